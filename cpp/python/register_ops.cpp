// facert._core.ops: single CPU kernels for tests and benchmarks, and the detector's area resize and NMS.
// Bindings only: check shapes, allocate the output, release the GIL, call cpu::*. Batches loop over images
// (the kernel contract is one image at a time).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "cpu/kernels.hpp"

namespace py = pybind11;
using facert::cpu::Activation;
using facert::cpu::Isa;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

namespace facert::python {

namespace {

[[noreturn]] void bad(const std::string& what) { throw py::value_error(what); }

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

void expect_ndim(const py::array& a, int ndim, const char* name, const char* layout) {
  if (a.ndim() != ndim)
    bad(std::string(name) + ": expected a " + std::to_string(ndim) + "-d array " + layout + ", got shape " +
        shape_str(a));
}

Isa isa_arg(const std::string& name) {
  Isa isa;
  if (!cpu::parse_isa(name, &isa)) bad("unknown isa '" + name + "'; expected auto, ref, avx2, avx512 or neon");
  if (!cpu::isa_available(isa)) bad(std::string("isa '") + name + "' is not available on this CPU/build");
  return isa;
}

Activation activation_arg(const std::string& name) {
  if (name == "none") return Activation::None;
  if (name == "relu") return Activation::Relu;
  if (name == "relu6") return Activation::Relu6;
  bad("unknown activation '" + name + "'; expected none, relu or relu6");
}

// An int or a pair of ints, as PyTorch's kernel_size/stride/padding arguments.
std::pair<int, int> pair_arg(const py::object& v, const char* name) {
  if (py::isinstance<py::int_>(v)) return {v.cast<int>(), v.cast<int>()};
  auto seq = v.cast<std::vector<int>>();
  if (seq.size() != 2) bad(std::string(name) + ": expected an int or a pair of ints");
  return {seq[0], seq[1]};
}

// Pools are cached per thread count: creating threads per call would dominate small kernels.
cpu::ThreadPool& pool_for(int threads) {
  if (threads < 1) bad("threads must be >= 1, got " + std::to_string(threads));
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<cpu::ThreadPool>> pools;
  std::lock_guard<std::mutex> lock(mutex);
  auto& pool = pools[threads];
  if (!pool) pool = std::make_unique<cpu::ThreadPool>(threads);
  return *pool;
}

const float* bias_ptr(const std::optional<FloatArray>& bias, py::ssize_t expected, const char* op) {
  if (!bias) return nullptr;
  if (bias->ndim() != 1 || bias->shape(0) != expected)
    bad(std::string(op) + ": bias must have shape (" + std::to_string(expected) + ",), got " + shape_str(*bias));
  return bias->data();
}

// A conv layer prepared once (weights packed), run on many inputs: what benchmarks time.
// method: None chooses by shape (cpu::Conv2d); a method name forces it, so tests and benchmarks can compare.
class Conv2dKernel {
 public:
  Conv2dKernel(const FloatArray& weight, const std::optional<FloatArray>& bias, std::vector<int> in_shape,
               const py::object& stride, const py::object& pad, const py::object& dilation, int groups,
               const std::string& activation, const std::string& isa, int threads,
               const std::optional<std::string>& method)
      : pool_(&pool_for(threads)) {
    expect_ndim(weight, 4, "conv2d weight", "(O, C/groups, kh, kw)");
    if (in_shape.size() != 3) bad("conv2d: in_shape must be (C, H, W)");
    const auto [sh, sw] = pair_arg(stride, "stride");
    const auto [ph, pw] = pair_arg(pad, "pad");
    const auto [dh, dw] = pair_arg(dilation, "dilation");
    cpu::Conv2dShape s{};
    s.in_c = in_shape[0], s.in_h = in_shape[1], s.in_w = in_shape[2];
    s.out_c = static_cast<int>(weight.shape(0));
    s.kh = static_cast<int>(weight.shape(2)), s.kw = static_cast<int>(weight.shape(3));
    s.sh = sh, s.sw = sw, s.ph = ph, s.pw = pw, s.dh = dh, s.dw = dw, s.groups = groups;
    if (groups <= 0 || s.in_c % groups || weight.shape(1) * groups != s.in_c)
      bad("conv2d: weight " + shape_str(weight) + " does not fit " + std::to_string(s.in_c) +
          " input channels with groups=" + std::to_string(groups));
    if (sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0) bad("conv2d: stride and dilation must be positive");
    s.out_h = (s.in_h + 2 * ph - dh * (s.kh - 1) - 1) / sh + 1;
    s.out_w = (s.in_w + 2 * pw - dw * (s.kw - 1) - 1) / sw + 1;
    if (s.in_h + 2 * ph - dh * (s.kh - 1) - 1 < 0 || s.in_w + 2 * pw - dw * (s.kw - 1) - 1 < 0)
      bad("conv2d: kernel larger than the padded input");
    conv_.emplace(s, weight.data(), bias_ptr(bias, s.out_c, "conv2d"), activation_arg(activation), isa_arg(isa),
                  method ? method->c_str() : nullptr);
  }

  // x (N, C, H, W) -> (N, total, Ho, Wo); this conv fills channels [offset, offset + O), the others
  // are NaN (set here first), so a test sees any write outside the slice.
  py::array_t<float> run(const FloatArray& x, std::optional<int> out_channels_total, int out_channel_offset) const {
    const cpu::Conv2dShape& s = conv_->shape();
    expect_ndim(x, 4, "conv2d input", "(N, C, H, W)");
    if (x.shape(1) != s.in_c || x.shape(2) != s.in_h || x.shape(3) != s.in_w)
      bad("conv2d: input shape " + shape_str(x) + " does not match (N, " + std::to_string(s.in_c) + ", " +
          std::to_string(s.in_h) + ", " + std::to_string(s.in_w) + ")");
    const int total = out_channels_total.value_or(s.out_c);
    if (out_channel_offset < 0 || out_channel_offset + s.out_c > total)
      bad("conv2d: channels [" + std::to_string(out_channel_offset) + ", " +
          std::to_string(out_channel_offset + s.out_c) + ") do not fit out_channels_total=" + std::to_string(total));
    const py::ssize_t n = x.shape(0);
    py::array_t<float> out({n, py::ssize_t(total), py::ssize_t(s.out_h), py::ssize_t(s.out_w)});
    const int64_t in_size = int64_t(s.in_c) * s.in_h * s.in_w, plane = int64_t(s.out_h) * s.out_w;
    const float* in = x.data();
    float* o = out.mutable_data();
    if (total != s.out_c) std::fill(o, o + n * total * plane, std::numeric_limits<float>::quiet_NaN());
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) conv_->run(in + i * in_size, o + (i * total + out_channel_offset) * plane, *pool_);
    return out;
  }

  std::string isa() const { return cpu::isa_name(conv_->isa()); }
  std::string method() const { return conv_->method(); }
  std::string tile() const { return conv_->tile(); }

 private:
  std::optional<cpu::Conv2d> conv_;
  cpu::ThreadPool* pool_;
};

py::array_t<float> maxpool2d(const FloatArray& x, const py::object& kernel, const py::object& stride,
                             const py::object& pad, bool ceil_mode, const std::string& isa, int threads) {
  expect_ndim(x, 4, "maxpool2d input", "(N, C, H, W)");
  const auto [kh, kw] = pair_arg(kernel, "kernel");
  const auto [sh, sw] = pair_arg(stride, "stride");
  const auto [ph, pw] = pair_arg(pad, "pad");
  if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0) bad("maxpool2d: kernel and stride must be positive");
  if (ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw) bad("maxpool2d: pad must be in [0, kernel/2] (PyTorch's rule)");
  cpu::Pool2dShape s{static_cast<int>(x.shape(1)), static_cast<int>(x.shape(2)), static_cast<int>(x.shape(3)),
                     0, 0, kh, kw, sh, sw, ph, pw};
  s.out_h = cpu::pool_out_size(s.in_h, kh, sh, ph, ceil_mode);
  s.out_w = cpu::pool_out_size(s.in_w, kw, sw, pw, ceil_mode);
  if (s.out_h <= 0 || s.out_w <= 0) bad("maxpool2d: kernel larger than the padded input " + shape_str(x));
  const Isa chosen = isa_arg(isa);
  cpu::ThreadPool& pool = pool_for(threads);
  const py::ssize_t n = x.shape(0);
  py::array_t<float> out({n, x.shape(1), py::ssize_t(s.out_h), py::ssize_t(s.out_w)});
  const int64_t in_size = int64_t(s.c) * s.in_h * s.in_w, out_size = int64_t(s.c) * s.out_h * s.out_w;
  const float* in = x.data();
  float* o = out.mutable_data();
  py::gil_scoped_release release;
  for (py::ssize_t i = 0; i < n; ++i) cpu::maxpool2d(s, in + i * in_size, o + i * out_size, chosen, pool);
  return out;
}

py::array_t<float> global_avgpool(const FloatArray& x, const std::string& isa, int threads) {
  expect_ndim(x, 4, "global_avgpool input", "(N, C, H, W)");
  const Isa chosen = isa_arg(isa);
  cpu::ThreadPool& pool = pool_for(threads);
  const py::ssize_t n = x.shape(0), c = x.shape(1), hw = x.shape(2) * x.shape(3);
  if (hw == 0) bad("global_avgpool: empty spatial size in " + shape_str(x));
  py::array_t<float> out({n, c});
  const float* in = x.data();
  float* o = out.mutable_data();
  py::gil_scoped_release release;
  for (py::ssize_t i = 0; i < n; ++i)
    cpu::global_avgpool(in + i * c * hw, static_cast<int>(c), static_cast<int>(hw), o + i * c, chosen, pool);
  return out;
}

py::array_t<float> linear(const FloatArray& x, const FloatArray& weight, const std::optional<FloatArray>& bias,
                          const std::string& activation, const std::string& isa, int threads) {
  expect_ndim(x, 2, "linear input", "(N, in_features)");
  expect_ndim(weight, 2, "linear weight", "(out_features, in_features)");
  if (weight.shape(1) != x.shape(1))
    bad("linear: weight " + shape_str(weight) + " does not take input " + shape_str(x));
  cpu::Linear layer(static_cast<int>(x.shape(1)), static_cast<int>(weight.shape(0)), weight.data(),
                    bias_ptr(bias, weight.shape(0), "linear"), activation_arg(activation), isa_arg(isa));
  cpu::ThreadPool& pool = pool_for(threads);
  py::array_t<float> out({x.shape(0), weight.shape(0)});
  const float* in = x.data();
  float* o = out.mutable_data();
  const int n = static_cast<int>(x.shape(0));
  py::gil_scoped_release release;
  layer.run(in, o, n, pool);
  return out;
}

py::array_t<float> l2_normalize(const FloatArray& v) {
  expect_ndim(v, 2, "l2_normalize input", "(N, D)");
  py::array_t<float> out({v.shape(0), v.shape(1)});
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  for (py::ssize_t i = 0; i < v.shape(0); ++i)
    cpu::l2_normalize(out.mutable_data() + i * v.shape(1), static_cast<int>(v.shape(1)));
  return out;
}

template <class T>
void area_resize_run(const py::array& sums, const int64_t* boxes, int64_t n, int out_h, int out_w, bool reverse,
                     bool exact, float* out) {
  const T* s = static_cast<const T*>(sums.data());
  py::gil_scoped_release nogil;
  cpu::area_resize_boxes(s, sums.shape(1) - 1, int(sums.shape(2)), boxes, n, out_h, out_w, reverse, exact, out);
}

py::array_t<float> area_resize_boxes(const py::array& sums, const py::array_t<int64_t, py::array::c_style |
                                     py::array::forcecast>& boxes, int out_h, int out_w, bool reverse, bool exact) {
  expect_ndim(sums, 3, "area_resize_boxes sums", "(H + 1, W + 1, C)");
  const bool i32 = py::isinstance<py::array_t<int32_t>>(sums), f64 = py::isinstance<py::array_t<double>>(sums);
  if (!(i32 || f64) || !(sums.flags() & py::array::c_style))
    bad("area_resize_boxes sums: expected a C-contiguous int32 or float64 integral image");
  const int64_t h = sums.shape(0) - 1, w = sums.shape(1) - 1;
  if (h < 1 || w < 1 || sums.shape(2) < 1) bad("area_resize_boxes sums: empty image " + shape_str(sums));
  if (boxes.ndim() != 2 || boxes.shape(1) != 4) bad("area_resize_boxes boxes: expected (N, 4), got " + shape_str(boxes));
  if (out_h < 1 || out_w < 1) bad("area_resize_boxes: output size must be positive");
  const int64_t n = boxes.shape(0);
  const int64_t* b = boxes.data();
  for (int64_t i = 0; i < n; ++i, b += 4)
    if (!(0 <= b[0] && b[0] < b[2] && b[2] <= w && 0 <= b[1] && b[1] < b[3] && b[3] <= h))
      bad("area_resize_boxes: box " + std::to_string(i) + " is empty or outside the " + std::to_string(w) + "x" +
          std::to_string(h) + " image");
  py::array_t<float> out({n, sums.shape(2), py::ssize_t(out_h), py::ssize_t(out_w)});
  if (i32) area_resize_run<int32_t>(sums, boxes.data(), n, out_h, out_w, reverse, exact, out.mutable_data());
  else area_resize_run<double>(sums, boxes.data(), n, out_h, out_w, reverse, exact, out.mutable_data());
  return out;
}

py::array_t<int64_t> nms(const py::array_t<double, py::array::c_style | py::array::forcecast>& boxes,
                         const py::array_t<double, py::array::c_style | py::array::forcecast>& scores, double threshold,
                         const std::string& method) {
  if (boxes.ndim() != 2 || boxes.shape(1) != 4) bad("nms boxes: expected (N, 4), got " + shape_str(boxes));
  if (scores.ndim() != 1 || scores.shape(0) != boxes.shape(0))
    bad("nms scores: expected (" + std::to_string(boxes.shape(0)) + ",), got " + shape_str(scores));
  if (method != "union" && method != "min") bad("nms method: expected 'union' or 'min', got '" + method + "'");
  std::vector<int64_t> keep;
  {
    py::gil_scoped_release nogil;
    keep = cpu::nms(boxes.data(), scores.data(), boxes.shape(0), threshold, method == "min");
  }
  py::array_t<int64_t> out(py::ssize_t(keep.size()));
  std::copy(keep.begin(), keep.end(), out.mutable_data());
  return out;
}

}  // namespace

void register_ops(py::module_& m) {
  m.def("isas", [] {
    std::vector<std::string> names;
    for (Isa isa : cpu::kAllIsas)
      if (cpu::isa_available(isa)) names.emplace_back(cpu::isa_name(isa));
    return names;
  }, "names of the ISAs this CPU and build can run, 'ref' first");
  m.def("best_isa", [] { return std::string(cpu::isa_name(cpu::best_isa())); });
  m.def("physical_cores", &cpu::physical_cores);

  py::class_<Conv2dKernel>(m, "Conv2dKernel", "a conv layer with its weights packed once, for repeated runs")
      .def(py::init<const FloatArray&, const std::optional<FloatArray>&, std::vector<int>, const py::object&,
                    const py::object&, const py::object&, int, const std::string&, const std::string&, int,
                    const std::optional<std::string>&>(),
           py::arg("weight"), py::arg("bias"), py::arg("in_shape"), py::arg("stride") = 1, py::arg("pad") = 0,
           py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("activation") = "none", py::arg("isa") = "auto",
           py::arg("threads") = 1, py::arg("method") = py::none())
      .def("run", &Conv2dKernel::run, py::arg("x"), py::arg("out_channels_total") = py::none(),
           py::arg("out_channel_offset") = 0)
      .def_property_readonly("isa", &Conv2dKernel::isa)
      .def_property_readonly("method", &Conv2dKernel::method)
      .def_property_readonly("tile", &Conv2dKernel::tile);

  m.def(
      "conv2d",
      [](const FloatArray& x, const FloatArray& weight, const std::optional<FloatArray>& bias,
         const py::object& stride, const py::object& pad, const py::object& dilation, int groups,
         const std::string& activation, const std::string& isa, int threads, std::optional<int> out_channels_total,
         int out_channel_offset, const std::optional<std::string>& method) {
        expect_ndim(x, 4, "conv2d input", "(N, C, H, W)");
        std::vector<int> in_shape{int(x.shape(1)), int(x.shape(2)), int(x.shape(3))};
        Conv2dKernel conv(weight, bias, in_shape, stride, pad, dilation, groups, activation, isa, threads, method);
        return conv.run(x, out_channels_total, out_channel_offset);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = py::make_tuple(1, 1),
      py::arg("pad") = py::make_tuple(0, 0), py::arg("dilation") = py::make_tuple(1, 1), py::arg("groups") = 1,
      py::arg("activation") = "none", py::arg("isa") = "auto", py::arg("threads") = 1,
      py::arg("out_channels_total") = py::none(), py::arg("out_channel_offset") = 0, py::arg("method") = py::none());
  m.def("maxpool2d", &maxpool2d, py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("pad") = 0,
        py::arg("ceil_mode") = false, py::arg("isa") = "auto", py::arg("threads") = 1);
  m.def("global_avgpool", &global_avgpool, py::arg("x"), py::arg("isa") = "auto", py::arg("threads") = 1);
  m.def("linear", &linear, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("activation") = "none", py::arg("isa") = "auto", py::arg("threads") = 1);
  m.def("l2_normalize", &l2_normalize, py::arg("v"));
  m.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("threshold"), py::arg("method") = "union",
        "greedy NMS (cpu::nms): indices kept, highest score first");
  m.def("area_resize_boxes", &area_resize_boxes, py::arg("sums"), py::arg("boxes"), py::arg("out_h"),
        py::arg("out_w"), py::arg("reverse") = false, py::arg("exact") = false,
        "boxes (N, 4) x0 y0 x1 y1 of an image, each area-resized (torch interpolate mode='area') to out_h x out_w "
        "from the image's integral image (H + 1, W + 1, C): (N, C, out_h, out_w) float32");
}

}  // namespace facert::python
