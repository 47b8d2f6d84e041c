// Reading and writing NumPy .npy files (format versions 1.0-3.0, C order).
// Matrices are read as float32 from '<f4' or '<f8'; ids as int64 from '<i8', '<i4' or '<u4'...
// Anything else (Fortran order, other dtypes, truncated data, a header whose shape
// disagrees with the file size) is a clear error.
// Files are untrusted input: the header must be the dict np.save writes (ASCII;
// descr, fortran_order, shape), and the size its shape claims is checked, overflow
// included, against the file's real size before anything is allocated; any mismatch
// is Corruption naming the file. float64 values beyond float32's range are
// InvalidArgument (not silently inf).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

// A 2-D array as rows x cols; a 1-D array of length n is read as n x 1.
Result<Matrix> ReadNpyMatrix(const std::string& path);
// A 1-D (or n x 1) integer array.
Result<std::vector<int64_t>> ReadNpyInt64(const std::string& path);

Status WriteNpyMatrix(const std::string& path, MatrixView m);
Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& values);
// Raw uint8 tensor of any shape (images), for interoperability with NumPy users.
Status WriteNpyUint8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data);

// Streaming access for files larger than memory (docs/design.md §3.3): the header
// is read and checked once, exactly as ReadNpyMatrix / ReadNpyInt64 check it (shape
// against the file's size, overflow included), then rows are read a block at a time.
// Memory is bounded by the block the caller asks for.
class NpyReader {
 public:
  enum class Kind { kMatrix, kIds };
  // kMatrix: a float32/float64 matrix (1-D: n x 1); kIds: a 1-D (or n x 1) integer array.
  static Result<std::unique_ptr<NpyReader>> Open(const std::string& path, Kind kind = Kind::kMatrix);
  ~NpyReader();
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;

  int64_t rows() const;
  int64_t cols() const;
  int64_t position() const;          // the next row ReadRows returns
  int64_t data_offset() const;       // where the data starts (after the header)
  const std::string& path() const;
  // Moves to `row` (0..rows()); no data is read.
  Status Seek(int64_t row);
  // Up to max_rows (>= 1) rows from position(): *out becomes n x cols(); returns n, 0 at
  // the end. A file that shrank since Open is Corruption naming the file and the row.
  Result<int64_t> ReadRows(int64_t max_rows, Matrix* out);
  Result<int64_t> ReadIds(int64_t max_rows, std::vector<int64_t>* out);

  struct Impl;

 private:
  explicit NpyReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class AtomicFileWriter;  // relgeo/file_io.h

// Writes a rows x cols float32 .npy a block of rows at a time: the header first,
// then the blocks, all-or-nothing like WriteNpyMatrix (a temporary file renamed
// into place by Commit, every write checked). Commit fails unless exactly `rows`
// rows were appended; a writer destroyed without Commit leaves `path` untouched.
class NpyMatrixWriter {
 public:
  static Result<std::unique_ptr<NpyMatrixWriter>> Create(const std::string& path, int64_t rows, int64_t cols);
  ~NpyMatrixWriter();
  NpyMatrixWriter(const NpyMatrixWriter&) = delete;
  NpyMatrixWriter& operator=(const NpyMatrixWriter&) = delete;

  Status Append(MatrixView block);
  Status Commit();
  int64_t rows_written() const { return written_; }

 private:
  NpyMatrixWriter() = default;
  std::unique_ptr<AtomicFileWriter> out_;
  int64_t rows_ = 0, cols_ = 0, written_ = 0;
};

}  // namespace relgeo
