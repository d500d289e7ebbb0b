#include "opencl/network.hpp"

#include <algorithm>
#include <cmath>

#include "cpu/kernels.hpp"  // pool_out_size: one rule for both backends
#include "opencl/weight_packing.hpp"

namespace facert::opencl {
namespace {

int blocks(int c) { return (c + 3) / 4; }
Error unsupported(const std::string& what) { return Error(ErrorKind::Unsupported, "OpenCL backend: " + what); }

}  // namespace

Network::Network(std::shared_ptr<Runtime> runtime, int in_c, int in_h, int in_w) : runtime_(std::move(runtime)) {
  Tensor t;
  t.c = in_c, t.h = in_h, t.w = in_w;
  tensors_.push_back(t);
}

int Network::add_tensor(const Tensor& t, int producer) {
  tensors_.push_back(t);
  tensors_.back().producer = producer;
  return static_cast<int>(tensors_.size()) - 1;
}

void Network::require(int tensor) const {
  if (finalized_) throw unsupported("network already finalized");
  if (tensor < 0 || tensor >= static_cast<int>(tensors_.size())) throw unsupported("unknown tensor id");
}

int Network::conv2d(int in, int out_c, int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw, int groups,
                    int act, const float* weight, const float* bias) {
  require(in);
  const Tensor& x = tensors_[in];
  if (x.flat) throw unsupported("conv2d on a flat tensor");
  if (groups != 1) throw unsupported("grouped conv2d (groups=" + std::to_string(groups) + ") has no kernel");
  Tensor y;
  y.c = out_c;
  y.h = (x.h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
  y.w = (x.w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
  if (y.h < 1 || y.w < 1) throw unsupported("conv2d output is empty");
  Op op{Kind::Conv, {in}};
  op.kh = kh, op.kw = kw, op.sh = sh, op.sw = sw, op.ph = ph, op.pw = pw, op.dh = dh, op.dw = dw, op.act = act;
  const bool half = runtime_->precision() == Precision::Fp16;
  const auto packed = pack_conv_weight(weight, out_c, x.c, kh, kw, half);
  const auto b = pad_bias(bias, out_c);
  op.weight = runtime_->buffer(packed.size(), packed.data());
  op.bias = runtime_->buffer(b.size() * sizeof(float), b.data());
  op.output = add_tensor(y, static_cast<int>(ops_.size()));
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

int Network::maxpool2d(int in, int k, int s, int p, bool ceil_mode) {
  require(in);
  const Tensor& x = tensors_[in];
  if (x.flat) throw unsupported("maxpool2d on a flat tensor");
  Tensor y;
  y.c = x.c;
  y.h = cpu::pool_out_size(x.h, k, s, p, ceil_mode);
  y.w = cpu::pool_out_size(x.w, k, s, p, ceil_mode);
  Op op{Kind::MaxPool, {in}};
  op.kh = op.kw = k, op.sh = op.sw = s, op.ph = op.pw = p;
  op.output = add_tensor(y, static_cast<int>(ops_.size()));
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

int Network::concat(const std::vector<int>& inputs) {
  Tensor y;
  y.c = 0;
  for (int in : inputs) {
    require(in);
    const Tensor& x = tensors_[in];
    if (x.flat || x.h != tensors_[inputs[0]].h || x.w != tensors_[inputs[0]].w)
      throw unsupported("concat inputs must agree on H and W");
    y.c += x.c;
  }
  y.h = tensors_[inputs[0]].h, y.w = tensors_[inputs[0]].w;
  Op op{Kind::Concat, inputs};
  op.output = add_tensor(y, static_cast<int>(ops_.size()));
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

int Network::global_avgpool(int in) {
  require(in);
  if (tensors_[in].flat) throw unsupported("global_avgpool on a flat tensor");
  Tensor y;
  y.c = tensors_[in].c, y.flat = true;
  Op op{Kind::AvgPool, {in}};
  op.output = add_tensor(y, static_cast<int>(ops_.size()));
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

int Network::linear(int in, int out_features, const float* weight, const float* bias, int act) {
  require(in);
  if (!tensors_[in].flat) throw unsupported("linear needs a flat (N, I) input");
  const int in_features = tensors_[in].c;
  Tensor y;
  y.c = out_features, y.flat = true;
  Op op{Kind::Linear, {in}};
  op.act = act;
  const auto w = to_storage(weight, size_t(out_features) * in_features, runtime_->precision() == Precision::Fp16);
  std::vector<float> b(out_features, 0.0f);
  if (bias) std::copy(bias, bias + out_features, b.begin());
  op.weight = runtime_->buffer(w.size(), w.data());
  op.bias = runtime_->buffer(b.size() * sizeof(float), b.data());
  op.output = add_tensor(y, static_cast<int>(ops_.size()));
  ops_.push_back(std::move(op));
  return ops_.back().output;
}

// Concat costs nothing: each input is produced by a conv writing straight into its channel slice. That needs
// the slice to start on a 4-channel block and the input to have no reader besides the concat.
void Network::alias_concats() {
  std::vector<int> readers(tensors_.size(), 0);
  for (const Op& op : ops_)
    for (int in : op.inputs) ++readers[in];
  for (const Op& op : ops_) {
    if (op.kind != Kind::Concat) continue;
    int channel = 0;
    for (int in : op.inputs) {
      const Tensor& x = tensors_[in];
      const bool from_conv = x.producer >= 0 && ops_[x.producer].kind == Kind::Conv;
      if (!from_conv || channel % 4 != 0 || readers[in] != 1)
        throw unsupported("concat input " + std::to_string(in) + " (channel offset " + std::to_string(channel) +
                          ") cannot be written in place: it must come from a conv, start on a multiple of 4 "
                          "channels and have no other reader");
      tensors_[in].alias_of = op.output;
      tensors_[in].block_offset = channel / 4;
      channel += x.c;
    }
  }
}

// Greedy reuse by lifetime: a tensor takes a free slot once every reader of the slot's last tensor ran.
void Network::plan_slots() {
  auto root = [&](int t) {
    int offset = 0;
    while (tensors_[t].alias_of >= 0) offset += tensors_[t].block_offset, t = tensors_[t].alias_of;
    return std::make_pair(t, offset);
  };
  for (size_t i = 0; i < ops_.size(); ++i)
    for (int in : ops_[i].inputs) {
      const int r = root(in).first;
      tensors_[r].last_use = std::max(tensors_[r].last_use, static_cast<int>(i));
    }
  tensors_[output_].last_use = static_cast<int>(ops_.size());  // read back after the last op
  // a concat root is born when its first producer runs
  std::vector<int> birth(tensors_.size(), -1);
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const int r = root(static_cast<int>(t)).first;
    const int when = tensors_[t].producer;
    if (birth[r] < 0 || (when >= 0 && when < birth[r])) birth[r] = when;
  }
  std::vector<int> slot_free_after;  // op index after which the slot is free
  for (size_t i = 0; i <= ops_.size(); ++i) {
    for (size_t t = 0; t < tensors_.size(); ++t) {
      if (tensors_[t].alias_of >= 0 || birth[t] != static_cast<int>(i) - 1 || tensors_[t].slot >= 0) continue;
      const size_t bytes = tensor_bytes(tensors_[t]);
      int chosen = -1;
      for (size_t s = 0; s < slot_free_after.size(); ++s)
        if (slot_free_after[s] < static_cast<int>(i) - 1 && (chosen < 0 || slot_bytes_[s] > slot_bytes_[chosen]))
          chosen = static_cast<int>(s);
      if (chosen < 0) {
        chosen = static_cast<int>(slot_bytes_.size());
        slot_bytes_.push_back(0);
        slot_free_after.push_back(0);
      }
      slot_bytes_[chosen] = std::max(slot_bytes_[chosen], bytes);
      slot_free_after[chosen] = tensors_[t].last_use < 0 ? static_cast<int>(i) : tensors_[t].last_use;
      tensors_[t].slot = chosen;
    }
  }
  for (auto& t : tensors_)
    if (t.alias_of >= 0) t.slot = tensors_[root(static_cast<int>(&t - tensors_.data())).first].slot;
}

size_t Network::tensor_bytes(const Tensor& t) const {
  if (t.flat) return size_t(t.c) * sizeof(float);
  return size_t(blocks(t.c)) * t.h * t.w * 4 * runtime_->storage_bytes();
}

void Network::finalize(int output) {
  if (finalized_) throw unsupported("network already finalized");
  if (output <= 0 || output >= static_cast<int>(tensors_.size()) || !tensors_[output].flat)
    throw unsupported("the output must be a flat (N, D) tensor from global_avgpool or linear");
  output_ = output;
  alias_concats();
  plan_slots();
  finalized_ = true;
  // Warm-up: every kernel compiled and launched once (and work-group sizes tuned) before the binary is saved.
  std::vector<float> zeros(size_t(tensors_[0].c) * tensors_[0].h * tensors_[0].w, 0.0f);
  std::vector<float> out(tensors_[output_].c);
  forward(zeros.data(), 1, out.data(), true);
  forward(zeros.data(), 1, out.data(), false);
  runtime_->save_program_if_built();
}

int Network::output_dim() const { return output_ >= 0 ? tensors_[output_].c : 0; }

void Network::ensure_capacity(int n) {
  if (n <= capacity_) return;
  // Refuse up front what the device cannot hold in one buffer: drivers differ in how (and whether) they
  // report it, and a clear message beats a late CL error.
  const uint64_t max_alloc = runtime_->device().max_alloc_bytes;
  const size_t largest = slot_bytes_.empty() ? 0 : *std::max_element(slot_bytes_.begin(), slot_bytes_.end());
  if (max_alloc && uint64_t(largest) * uint64_t(n) > max_alloc)
    throw Error(ErrorKind::OutOfMemory,
                "OpenCL device out of memory: batch " + std::to_string(n) + " needs " +
                    std::to_string(uint64_t(largest) * n >> 20) + " MiB in one buffer, the device allows " +
                    std::to_string(max_alloc >> 20) + " MiB; use smaller batches");
  std::vector<Buffer> fresh;
  slots_.clear();  // release before allocating the larger set
  for (size_t bytes : slot_bytes_) fresh.push_back(runtime_->buffer(bytes * n));
  const Tensor& in = tensors_[0];
  staging_in_ = runtime_->buffer(size_t(n) * in.c * in.h * in.w * sizeof(float));
  slots_ = std::move(fresh);
  capacity_ = n;
}

const Buffer& Network::storage(int tensor) const { return slots_[tensors_[tensor].slot]; }

void Network::forward(const float* in, int n, float* out, bool l2_normalize) {
  if (!finalized_) throw unsupported("forward before finalize");
  if (n <= 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Runtime& rt = *runtime_;
  try {
    ensure_capacity(n);
  } catch (const Error& e) {
    capacity_ = 0;  // nothing half-allocated stays around
    slots_.clear();
    throw;
  }
  const Tensor& x = tensors_[0];
  const int hw = x.h * x.w;
  rt.write(staging_in_, in, size_t(n) * x.c * hw * sizeof(float));
  cl_kernel k = rt.kernel("nchw_to_nc4hw4");
  rt.set_args(k, staging_in_, storage(0), x.c, blocks(x.c), hw);
  rt.launch(k, "nchw_to_nc4hw4", {size_t(hw), size_t(n) * blocks(x.c), 0}, false);
  const Op& last = ops_[tensors_[output_].producer];
  const bool fused_l2 = l2_normalize && last.kind == Kind::AvgPool;
  for (const Op& op : ops_) run_op(op, n, fused_l2 && &op == &last);
  const int d = tensors_[output_].c;
  rt.read(storage(output_), out, size_t(n) * d * sizeof(float));
  if (l2_normalize && !fused_l2) {
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < d; ++j) s += double(out[i * d + j]) * out[i * d + j];
      const float inv = 1.0f / std::max(float(std::sqrt(s)), 1e-12f);
      for (int j = 0; j < d; ++j) out[i * d + j] *= inv;
    }
  }
  rt.save_tuning();
}

void Network::run_op(const Op& op, int n, bool l2_fused) {
  Runtime& rt = *runtime_;
  const Tensor& y = tensors_[op.output];
  switch (op.kind) {
    case Kind::Input:
    case Kind::Concat:  // producers already wrote their slices
      return;
    case Kind::Conv: {
      const Tensor& x = tensors_[op.inputs[0]];
      int total = blocks(y.c), offset = 0, t = op.output;
      while (tensors_[t].alias_of >= 0) offset += tensors_[t].block_offset, t = tensors_[t].alias_of;
      total = blocks(tensors_[t].c);
      const bool pointwise = op.kh == 1 && op.kw == 1 && op.sh == 1 && op.sw == 1 && op.ph == 0 && op.pw == 0;
      if (pointwise) {
        cl_kernel k = rt.kernel("conv2d_1x1");
        rt.set_args(k, storage(op.inputs[0]), op.weight, op.bias, storage(op.output), blocks(x.c), y.h * y.w,
                    blocks(y.c), total, offset, op.act);
        rt.launch(k, "conv2d_1x1", {size_t(y.h * y.w + 3) / 4, size_t(blocks(y.c) + 1) / 2, size_t(n)}, true);
      } else {
        cl_kernel k = rt.kernel("conv2d");
        rt.set_args(k, storage(op.inputs[0]), op.weight, op.bias, storage(op.output), blocks(x.c), x.h, x.w,
                    blocks(y.c), y.h, y.w, total, offset, op.kh, op.kw, op.sh, op.sw, op.ph, op.pw, op.dh, op.dw,
                    op.act);
        rt.launch(k, "conv2d", {size_t(y.w + 3) / 4, size_t(y.h), size_t(n) * ((blocks(y.c) + 1) / 2)}, true);
      }
      return;
    }
    case Kind::MaxPool: {
      const Tensor& x = tensors_[op.inputs[0]];
      cl_kernel k = rt.kernel("maxpool2d");
      rt.set_args(k, storage(op.inputs[0]), storage(op.output), blocks(x.c), x.h, x.w, y.h, y.w, op.kh, op.kw,
                  op.sh, op.sw, op.ph, op.pw);
      rt.launch(k, "maxpool2d", {size_t(y.w), size_t(y.h), size_t(n) * blocks(x.c)}, true);
      return;
    }
    case Kind::AvgPool: {
      const Tensor& x = tensors_[op.inputs[0]];
      const char* name = l2_fused ? "global_avgpool_l2" : "global_avgpool";
      cl_kernel k = rt.kernel(name);
      rt.set_args(k, storage(op.inputs[0]), storage(op.output), blocks(x.c), x.c, x.h * x.w);
      if (l2_fused)
        rt.launch(k, name, {size_t(n), 0, 0}, false);
      else
        rt.launch(k, name, {size_t(blocks(x.c)), size_t(n), 0}, false);
      return;
    }
    case Kind::Linear: {
      const Tensor& x = tensors_[op.inputs[0]];
      cl_kernel k = rt.kernel("linear");
      rt.set_args(k, storage(op.inputs[0]), op.weight, op.bias, storage(op.output), x.c, y.c, op.act);
      rt.launch(k, "linear", {size_t(y.c), size_t(n), 0}, false);
      return;
    }
  }
}

}  // namespace facert::opencl
