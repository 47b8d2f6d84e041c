// Status and Result<T>: how every public relgeo call reports failure.
// Nothing at the public boundary throws; third-party exceptions are caught
// inside the library and turned into a Status with a readable message.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace relgeo {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something wrong (shape, NaN, bad name)
  kNotFound,         // a named model, anchor set, collection or file does not exist
  kAlreadyExists,    // a name is taken
  kCorruption,       // stored data or a file is damaged
  kIOError,          // the operating system refused a read or write
  kFailedPrecondition,  // the call is valid but the state forbids it (e.g. DB locked)
  kUnimplemented,    // the build lacks the feature (e.g. CUDA)
  kInternal,         // a backend failed in a way the caller could not prevent
};

const char* StatusCodeName(StatusCode code);

// `text` safe to echo in a one-line message: control characters (C0, DEL and the C1
// range) and bytes that are not UTF-8 are written as escapes ("\n", "\t", "\x1b",
// ...), everything else (printable ASCII, valid UTF-8) as it is. relgeo's own
// messages quote names this way; use it for untrusted text in yours.
std::string PrintableText(const std::string& text);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: latents have 3 columns, the model expects 128".
  std::string ToString() const;

  // Adds context in front of the message, keeping the code.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace internal {
// Prints "relgeo: Result::<what> called on an error Result: <status>" to stderr and aborts.
[[noreturn]] void DieOnErrorResult(const Status& status, const char* what);
}  // namespace internal

// A value or the Status saying why there is none.
//
// Contract: check ok() (or use RELGEO_ASSIGN_OR_RETURN) before touching the value.
// value(), operator* and operator-> on an error Result are a programming error; they
// do not return garbage: in every build type (Debug and Release alike, like
// absl::StatusOr) they print the status to stderr and abort the process. The check
// is one predictable branch per access. status() is always safe; it is OK when
// there is a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {          // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return Checked("value()"); }
  const T& value() const& { return Checked("value()"); }
  T&& value() && { return std::move(Checked("value()")); }
  T* operator->() { return std::addressof(Checked("operator->")); }
  const T* operator->() const { return std::addressof(Checked("operator->")); }
  T& operator*() & { return Checked("operator*"); }
  const T& operator*() const& { return Checked("operator*"); }

 private:
  T& Checked(const char* what) {
    if (!value_.has_value()) internal::DieOnErrorResult(status_, what);
    return *value_;
  }
  const T& Checked(const char* what) const {
    if (!value_.has_value()) internal::DieOnErrorResult(status_, what);
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace relgeo

// Early-return helpers used inside the library (and welcome in user code).
#define RELGEO_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::relgeo::Status _relgeo_st = (expr);       \
    if (!_relgeo_st.ok()) return _relgeo_st;    \
  } while (0)

#define RELGEO_CONCAT_INNER(a, b) a##b
#define RELGEO_CONCAT(a, b) RELGEO_CONCAT_INNER(a, b)
#define RELGEO_ASSIGN_OR_RETURN(lhs, expr) \
  RELGEO_ASSIGN_OR_RETURN_IMPL(RELGEO_CONCAT(_relgeo_res_, __LINE__), lhs, expr)
#define RELGEO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
