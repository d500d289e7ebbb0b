#include "opencl/backend.hpp"

#include <chrono>
#include <exception>
#include <new>

#include "opencl/network.hpp"
#include "opencl/runtime.hpp"

namespace facert::opencl {
namespace {

int activation_code(graph::Activation a) {
  switch (a) {
    case graph::Activation::Relu: return 1;
    case graph::Activation::Relu6: return 2;
    default: return 0;
  }
}

const float* weight_data(const graph::Graph& g, int id) { return id >= 0 ? g.weights[id].data.data() : nullptr; }

// Graph ops -> Network ops; graph tensor ids map to network tensor ids.
std::unique_ptr<Network> build_network(const graph::Graph& g, std::shared_ptr<Runtime> runtime) {
  auto net = std::make_unique<Network>(std::move(runtime), g.input.channels, g.input.height, g.input.width);
  std::vector<int> ids(g.tensors.size(), -1);
  ids[g.input_tensor] = net->input();
  for (const graph::Op& op : g.ops) {
    auto in = [&](size_t i) { return ids[op.inputs[i]]; };
    int out = -1;
    switch (op.type) {
      case graph::OpType::Conv2d: {
        const auto& shape = g.tensors[op.output].shape;
        out = net->conv2d(in(0), static_cast<int>(shape[0]), op.kernel[0], op.kernel[1], op.stride[0], op.stride[1],
                          op.pad[0], op.pad[1], op.dilation[0], op.dilation[1], op.groups,
                          activation_code(op.activation), weight_data(g, op.weight), weight_data(g, op.bias));
        break;
      }
      case graph::OpType::MaxPool2d:
        if (op.kernel[0] != op.kernel[1] || op.stride[0] != op.stride[1] || op.pad[0] != op.pad[1])
          throw Error(ErrorKind::Unsupported, "OpenCL backend: maxpool2d with non-square attributes");
        out = net->maxpool2d(in(0), op.kernel[0], op.stride[0], op.pad[0], op.ceil_mode);
        break;
      case graph::OpType::Concat: {
        std::vector<int> inputs;
        for (size_t i = 0; i < op.inputs.size(); ++i) inputs.push_back(in(i));
        out = net->concat(inputs);
        break;
      }
      case graph::OpType::GlobalAvgPool:
        out = net->global_avgpool(in(0));
        break;
      case graph::OpType::Linear:
        out = net->linear(in(0), static_cast<int>(g.tensors[op.output].shape[0]), weight_data(g, op.weight),
                          weight_data(g, op.bias), activation_code(op.activation));
        break;
    }
    ids[op.output] = out;
  }
  net->finalize(ids[g.output_tensor]);
  return net;
}

Status device_status(const std::exception& e, const char* where) {
  return Status::device(std::string(where) + ": " + e.what());
}

}  // namespace

Result<std::unique_ptr<Backend>> Backend::create(const graph::Graph& graph, const BackendOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  RuntimeOptions ro;
  if (options.precision == "fp32") {
    ro.precision = Precision::Fp32;
  } else if (options.precision == "fp16") {
    ro.precision = Precision::Fp16;
  } else {
    return Status::argument("precision must be 'fp32' or 'fp16', got '" + options.precision + "'");
  }
  ro.cache_dir = options.cache_dir;
  try {
    const DeviceList list = enumerate_devices();
    if (list.devices.empty()) return Status::device("no OpenCL device: " + list.reason);
    const DeviceInfo* device = nullptr;
    if (options.device_index < 0) {
      device = default_device(list);
    } else if (options.device_index < static_cast<int>(list.devices.size())) {
      device = &list.devices[options.device_index];
    } else {
      return Status::device("no OpenCL device with index " + std::to_string(options.device_index) + " (" +
                            std::to_string(list.devices.size()) + " found)");
    }
    std::unique_ptr<Backend> backend(new Backend());
    backend->precision_ = options.precision;
    backend->runtime_ = std::make_shared<Runtime>(*device, ro);
    backend->network_ = build_network(graph, backend->runtime_);
    const RuntimeStats& stats = backend->runtime_->stats();
    const double create_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    backend->info_ = {
        {"device", device->name},
        {"device_vendor", device->vendor},
        {"platform", device->platform_name},
        {"driver_version", device->driver_version},
        {"precision_variant", ro.precision == Precision::Fp32 ? "fp32"
                              : device->fp16                  ? "fp16 half math (cl_khr_fp16)"
                                                              : "fp16 half storage, float math"},
        {"program_from_cache", stats.program_from_cache ? "true" : "false"},
        {"program_build_ms", std::to_string(stats.program_ms)},
        {"create_ms", std::to_string(create_ms)},
        {"cache_dir", stats.cache_dir},
    };
    return backend;
  } catch (const Error& e) {
    return Status::device(e.what());
  } catch (const std::bad_alloc& e) {
    return device_status(e, "out of host memory while preparing the OpenCL backend");
  }
}

Backend::~Backend() = default;

Status Backend::forward(const float* x, int n, float* out, bool l2_normalize) {
  try {
    network_->forward(x, n, out, l2_normalize);
    return Status::ok();
  } catch (const Error& e) {
    return Status::device(e.what());
  } catch (const std::bad_alloc& e) {
    return device_status(e, "OpenCL forward");
  }
}

std::string unavailable_reason() {
  const DeviceList list = enumerate_devices();
  return list.devices.empty() ? list.reason : std::string();
}

}  // namespace facert::opencl
