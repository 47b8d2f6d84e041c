// Shared by the libFuzzer targets: a check that traps (so libFuzzer reports it as a
// crash with the input), and reading every byte of a result (ASan/MSan see it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace relgeo::fuzz {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

inline void Touch(const void* p, size_t n) {
  volatile uint8_t sink = 0;
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) sink = sink ^ b[i];
  (void)sink;
}

}  // namespace relgeo::fuzz
