// Internal: a Status carried through code that reports failure by throwing (lambdas
// run under GuardTorch / InTorchScope, the encoder's OpenMP lanes). GuardTorch
// returns the Status it carries with its code unchanged, so an Internal or IOError
// raised deep inside the encoder does not come out as InvalidArgument.
#pragma once

#include <exception>
#include <utility>

#include "relgeo/status.h"

namespace relgeo::internal {

class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)) {}
  const char* what() const noexcept override { return status_.message().c_str(); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws StatusError when `status` is not OK.
inline void ThrowIfError(const Status& status) {
  if (!status.ok()) throw StatusError(status);
}

}  // namespace relgeo::internal
