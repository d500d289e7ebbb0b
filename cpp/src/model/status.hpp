// Errors as values: every fallible call in the core returns a Status or a Result<T>. The Python and C
// boundaries turn them into exceptions / status codes; no C++ exception is used for control flow.
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace facert {

enum class ErrorKind { Ok, Io, Model, Input, Device, Argument, Internal };

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status io(std::string m) { return Status(ErrorKind::Io, std::move(m)); }
  static Status model(std::string m) { return Status(ErrorKind::Model, std::move(m)); }
  static Status input(std::string m) { return Status(ErrorKind::Input, std::move(m)); }
  static Status device(std::string m) { return Status(ErrorKind::Device, std::move(m)); }
  static Status argument(std::string m) { return Status(ErrorKind::Argument, std::move(m)); }
  static Status internal(std::string m) { return Status(ErrorKind::Internal, std::move(m)); }

  bool is_ok() const { return kind_ == ErrorKind::Ok; }
  explicit operator bool() const { return is_ok(); }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // Same kind, message prefixed with where it happened ("op fire2/squeeze: ...").
  Status with_context(const std::string& where) const {
    return is_ok() ? *this : Status(kind_, where + ": " + message_);
  }

 private:
  Status(ErrorKind k, std::string m) : kind_(k), message_(std::move(m)) {}
  ErrorKind kind_ = ErrorKind::Ok;
  std::string message_;
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: must not be ok
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace facert

#define FACERT_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::facert::Status facert_st_ = (expr);     \
    if (!facert_st_.is_ok()) return facert_st_; \
  } while (0)
