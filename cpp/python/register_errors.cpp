#include <pybind11/pybind11.h>

#include <cerrno>
#include <cstring>

#include "bindings.hpp"
#include "register_errors.hpp"

namespace py = pybind11;

namespace facert::python {

void throw_status(const Status& st) {
  switch (st.kind()) {
    case ErrorKind::Model: throw ModelError(st.message());
    case ErrorKind::Input: throw InputError(st.message());
    case ErrorKind::Device: throw DeviceError(st.message());
    case ErrorKind::Io: {
      const bool missing = st.message().find(std::strerror(ENOENT)) != std::string::npos;
      PyErr_SetString(missing ? PyExc_FileNotFoundError : PyExc_OSError, st.message().c_str());
      throw py::error_already_set();
    }
    case ErrorKind::Argument: throw py::value_error(st.message());
    case ErrorKind::Internal:
    case ErrorKind::Ok: break;
  }
  throw std::runtime_error(st.message());
}

void register_errors(py::module_& m) {
  py::register_exception<ModelError>(m, "ModelError", PyExc_ValueError)
      .doc() = "The model file is missing pieces, corrupt, hostile or from a newer facert.";
  py::register_exception<InputError>(m, "InputError", PyExc_ValueError)
      .doc() = "An image or tensor does not have the shape or dtype the engine expects.";
  py::register_exception<DeviceError>(m, "DeviceError", PyExc_RuntimeError)
      .doc() = "The requested device or instruction set cannot be used here.";
}

}  // namespace facert::python
