// libFuzzer target for the .npy reader (src/util/npy.cpp), through its in-memory
// entry points (src/util/npy_internal.h): the same header parsing and size checks
// as ReadNpyMatrix / ReadNpyInt64, without a file per input.
//
// Besides the sanitizers (address, undefined) and libFuzzer's own limits (a single
// allocation over -malloc_limit_mb, default 2 GiB, is reported as a crash), it checks
// the reader's promise: a successful read holds exactly what the input carried, so
// it can never be larger than the input itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "util/npy_internal.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using relgeo::npy_internal::ReadNpyInt64FromMemory;
  using relgeo::npy_internal::ReadNpyMatrixFromMemory;

  auto m = ReadNpyMatrixFromMemory(data, size, "fuzz.npy");
  if (m.ok()) {
    Check(m->rows() >= 0 && m->cols() >= 0);
    Check(m->rows() <= std::numeric_limits<int32_t>::max() || m->cols() > 0);
    Check(m->cols() <= std::numeric_limits<int32_t>::max() || m->rows() > 0);
    Check(static_cast<size_t>(m->storage().size()) == static_cast<size_t>(m->rows()) * static_cast<size_t>(m->cols()));
    Check(m->storage().size() * 4 <= size);  // each value took at least 4 bytes of input
    volatile float sink = 0;
    for (float v : m->storage()) sink = sink + v;  // every value is initialised memory (MSan/ASan)
    (void)sink;
  } else {
    Check(!m.status().message().empty());
  }

  auto ids = ReadNpyInt64FromMemory(data, size, "fuzz.npy");
  if (ids.ok()) {
    Check(ids->size() * 4 <= size);
    volatile int64_t sink = 0;
    for (int64_t v : *ids) sink = sink + (v & 1);
    (void)sink;
  } else {
    Check(!ids.status().message().empty());
  }
  return 0;
}
