// pybind11 bindings for the OpenCL backend's device queries; no logic.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "opencl/devices.hpp"
#include "opencl/error.hpp"
#include "opencl/probe.hpp"

namespace py = pybind11;
namespace ocl = facert::opencl;

namespace facert::python {
namespace {

py::dict device_dict(const ocl::DeviceInfo& d, int index) {
  py::dict out;
  out["index"] = index;
  out["platform"] = d.platform_name;
  out["platform_vendor"] = d.platform_vendor;
  out["platform_version"] = d.platform_version;
  out["name"] = d.name;
  out["vendor"] = d.vendor;
  out["type"] = d.type;
  out["driver_version"] = d.driver_version;
  out["version"] = d.version;
  out["opencl_c_version"] = d.opencl_c_version;
  out["compute_units"] = d.compute_units;
  out["max_clock_mhz"] = d.max_clock_mhz;
  out["max_work_group_size"] = d.max_work_group_size;
  out["image_support"] = d.image_support;
  out["fp16"] = d.fp16;
  out["global_mem_bytes"] = d.global_mem_bytes;
  out["local_mem_bytes"] = d.local_mem_bytes;
  out["max_alloc_bytes"] = d.max_alloc_bytes;
  py::dict variants;
  variants["fp32"] = "float storage, float math";
  variants["fp16"] = d.fp16 ? "half storage, half math (cl_khr_fp16)" : "half storage, float math (no cl_khr_fp16)";
  out["precision_variants"] = variants;
  py::dict options;
  options["fp32"] = ocl::build_options(d, ocl::Precision::Fp32);
  options["fp16"] = ocl::build_options(d, ocl::Precision::Fp16);
  out["build_options"] = options;
  return out;
}

[[noreturn]] void raise_device_error(const std::string& message) {
  py::object cls = py::module_::import("facert._core").attr("DeviceError");
  PyErr_SetString(cls.ptr(), message.c_str());
  throw py::error_already_set();
}

ocl::Precision parse_precision(const std::string& p) {
  if (p == "fp32") return ocl::Precision::Fp32;
  if (p == "fp16") return ocl::Precision::Fp16;
  throw py::value_error("precision must be 'fp32' or 'fp16', got '" + p + "'");
}

}  // namespace

void register_opencl(py::module_& m) {
  // Every OpenCL failure (no device, build error with its log, device out of memory) is a DeviceError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ocl::Error& e) {
      raise_device_error(e.what());
    }
  });

  m.def("opencl_devices", [] {
    const ocl::DeviceList list = ocl::enumerate_devices();
    py::list out;
    for (size_t i = 0; i < list.devices.size(); ++i) out.append(device_dict(list.devices[i], static_cast<int>(i)));
    return out;
  }, "OpenCL devices with the capabilities facert uses; [] when there is no OpenCL (see opencl_status()).");

  m.def("opencl_status", [] {
    const ocl::DeviceList list = ocl::enumerate_devices();
    py::dict out;
    out["available"] = !list.devices.empty();
    out["library"] = list.library;
    out["reason"] = list.reason;
    out["devices"] = list.devices.size();
    const ocl::DeviceInfo* d = ocl::default_device(list);
    out["default_device"] = d ? py::object(py::int_(d - list.devices.data())) : py::object(py::none());
    return out;
  }, "Whether OpenCL is usable here, which libOpenCL was loaded, and why not when it is not.");

  m.def("opencl_probe", [](int device, const std::string& precision, const std::string& cache_dir, bool tune,
                           const std::string& build_options) {
    ocl::RuntimeOptions options;
    options.precision = parse_precision(precision);
    options.cache_dir = cache_dir;
    options.tune = tune;
    options.extra_build_options = build_options;
    const ocl::DeviceList list = ocl::enumerate_devices();
    const ocl::DeviceInfo* d = device < 0 ? ocl::default_device(list)
                               : device < static_cast<int>(list.devices.size()) ? &list.devices[device] : nullptr;
    if (!d) raise_device_error(list.devices.empty() ? "no OpenCL device: " + list.reason
                                                    : "no OpenCL device with index " + std::to_string(device));
    ocl::ProbeResult r;
    {
      py::gil_scoped_release release;
      r = ocl::probe_device(*d, options);
    }
    py::dict out;
    out["device"] = d->name;
    out["program_from_cache"] = r.stats.program_from_cache;
    out["cache_miss_reason"] = r.stats.cache_miss_reason;
    out["program_ms"] = r.stats.program_ms;
    out["program_saved"] = r.stats.program_saved;
    out["cache_dir"] = r.stats.cache_dir;
    out["build_options"] = r.stats.build_options;
    out["create_ms"] = r.create_ms;
    out["forward_ms"] = r.forward_ms;
    out["output"] = r.output;
    return out;
  }, py::arg("device") = -1, py::arg("precision") = "fp32", py::arg("cache_dir") = "", py::arg("tune") = true,
     py::arg("build_options") = "",
     "Build the kernels for a device (through the binary cache) and run a tiny network launching each kernel.");
}

}  // namespace facert::python
