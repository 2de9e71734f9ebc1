// SPDX-License-Identifier: Apache-2.0
// Errors: bad input from the user or the model throws a ptq::Error subclass carrying context (file, node,
// tensor); callers higher up add context with append_context(). Only main() catches them.
// Broken internal invariants use PTQ_CHECK, which aborts with file and line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ptq {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string message) : std::runtime_error(message), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  // Prefixes the message: "context: message".
  void append_context(const std::string& context) { message_ = context + ": " + message_; }

 private:
  std::string message_;
};

// The model file is unreadable or malformed.
class ModelError : public Error {
 public:
  using Error::Error;
};
// The model uses an op, attribute or dtype ptq does not support.
class UnsupportedError : public Error {
 public:
  using Error::Error;
};
// Input data (samples, tables, options read from files) is bad.
class DataError : public Error {
 public:
  using Error::Error;
};
// A file cannot be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};
// A bad combination of options that the argument parser cannot see.
class UsageError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
[[noreturn]] void check_failed(const char* cond, const char* file, int line);
}  // namespace detail

using detail::str_cat;

}  // namespace ptq

// Throws ErrorType with the concatenation of the arguments.
#define PTQ_FAIL(ErrorType, ...) throw ErrorType(::ptq::detail::str_cat(__VA_ARGS__))

// Internal invariant; never for user input.
#define PTQ_CHECK(cond)                                               \
  do {                                                                \
    if (!(cond)) ::ptq::detail::check_failed(#cond, __FILE__, __LINE__); \
  } while (0)
