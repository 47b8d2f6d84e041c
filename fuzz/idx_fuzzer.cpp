// libFuzzer target for the IDX reader (ReadIdx, src/data/datasets.cpp: Fashion-MNIST's
// format, gzipped or plain). ReadIdx takes a path, so each input is written to one
// memfd and read back through /proc/self/fd. Checks the reader's promises: a
// successful read has rank 1..4 (or the rank asked for), positive dimensions, and
// exactly prod(dims) bytes of data, all initialised. The memory a read holds is
// bounded by what arrives, not by what the header claims (libFuzzer's
// -malloc_limit_mb reports a larger single allocation as a crash).
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "fuzz_util.h"
#include "relgeo/datasets.h"

namespace {

const std::string& Path() {
  static const std::string path = [] {
    const int fd = memfd_create("idx_fuzz", 0);
    if (fd < 0) __builtin_trap();
    return "/proc/self/fd/" + std::to_string(fd);
  }();
  return path;
}

void CheckRead(const relgeo::Result<relgeo::IdxArray>& r, int expected_ndims) {
  using relgeo::fuzz::Check;
  if (!r.ok()) {
    Check(!r.status().message().empty());
    return;
  }
  Check(!r->dims.empty() && r->dims.size() <= 4);
  if (expected_ndims > 0) Check(static_cast<int>(r->dims.size()) == expected_ndims);
  size_t total = 1;
  for (int64_t d : r->dims) {
    Check(d > 0);
    total *= static_cast<size_t>(d);
  }
  Check(r->data.size() == total);
  relgeo::fuzz::Touch(r->data.data(), r->data.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = Path();
  const int fd = std::stoi(path.substr(path.rfind('/') + 1));
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();
  // Any rank, or the rank LoadIdxDataset asks for images (one read per input: each
  // opens the file and sets up zlib, the bulk of an execution).
  const int rank = size % 2 == 0 ? 0 : 3;
  CheckRead(relgeo::ReadIdx(path, rank), rank);
  return 0;
}
