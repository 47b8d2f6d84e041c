// Internal parts of the .npy reader (src/util/npy.cpp): the header parser and
// payload check the streaming reader reuses (src/util/npy_stream.cpp), and the same
// parser and checks as ReadNpyMatrix / ReadNpyInt64 over bytes already in memory
// (the fuzzer, fuzz/npy_fuzzer.cpp, and the white-box tests). Not public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::npy_internal {

// The header dict of a .npy file, parsed (ReadHeader) but not yet checked against a dtype.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  int64_t data_offset = 0;
};

// Where the bytes come from: a file, or a buffer in memory (the fuzzer). The size
// is known before anything is parsed, so every size a header claims is checked
// against it.
class Source {
 public:
  virtual ~Source() = default;
  int64_t size() const { return size_; }
  // Exactly n bytes at `offset` into dst; false if they cannot all be read.
  virtual bool ReadAt(int64_t offset, void* dst, int64_t n) = 0;

 protected:
  int64_t size_ = 0;
};

// A regular file read with pread (no shared file position, so one FileSource
// serves a streaming reader too, src/util/npy_stream.cpp).
class FileSource final : public Source {
 public:
  FileSource() = default;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() override;
  Status Open(const std::string& path);
  bool ReadAt(int64_t offset, void* dst, int64_t n) override;

 private:
  int fd_ = -1;
};

// "(n, d)" as NumPy writes shapes.
std::string ShapeText(const std::vector<int64_t>& shape);
// The header, parsed and checked for what this reader supports (C order, 1-D or 2-D).
Result<NpyHeader> ReadHeader(Source& src, const std::string& name);
// The number of values the shape promises, checked (with overflow checks) against
// the bytes the file holds after the header: exactly count * item of them.
Result<int64_t> CheckPayload(const Source& src, const std::string& name, const NpyHeader& hdr, int64_t item);
// The 10-byte prefix and padded dict of a version 1.0 .npy header.
std::string NpyHeaderBytes(const std::string& descr, const std::vector<int64_t>& shape);

// `name` stands in for the file name in error messages.
Result<Matrix> ReadNpyMatrixFromMemory(const void* data, size_t size, const std::string& name);
Result<std::vector<int64_t>> ReadNpyInt64FromMemory(const void* data, size_t size, const std::string& name);

}  // namespace relgeo::npy_internal
