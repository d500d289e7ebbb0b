#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "facert C++ core";
  facert::python::register_errors(m);
  facert::python::register_engine(m);
  facert::python::register_opencl(m);
  auto ops = m.def_submodule("ops", "single CPU kernels, exposed for tests and benchmarks; the detector's area resize and NMS");
  facert::python::register_ops(ops);
}
