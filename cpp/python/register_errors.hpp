// facert's Python exceptions and the one place a C++ Status becomes a Python exception.
#pragma once
#include <stdexcept>

#include "model/status.hpp"

namespace facert::python {

struct ModelError : std::runtime_error { using std::runtime_error::runtime_error; };
struct InputError : std::runtime_error { using std::runtime_error::runtime_error; };
struct DeviceError : std::runtime_error { using std::runtime_error::runtime_error; };

// Model -> ModelError, Input -> InputError, Device -> DeviceError, Io -> OSError (FileNotFoundError
// when the file does not exist), Argument -> ValueError, Internal -> RuntimeError. Never returns.
[[noreturn]] void throw_status(const Status& st);

inline void check(const Status& st) {
  if (!st.is_ok()) throw_status(st);
}

}  // namespace facert::python
