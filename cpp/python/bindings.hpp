// pybind11 bindings only, no logic: each register_*.cpp adds one part of facert._core.
#pragma once
#include <pybind11/pybind11.h>

namespace facert::python {

void register_errors(pybind11::module_& m);  // ModelError, InputError, DeviceError (register_errors.cpp)
void register_engine(pybind11::module_& m);  // Engine, preprocess (register_engine.cpp)
void register_ops(pybind11::module_& m);     // _core.ops: single kernels for tests (register_ops.cpp)
void register_opencl(pybind11::module_& m);  // opencl_devices, opencl_status, opencl_probe (register_opencl.cpp)

}  // namespace facert::python
