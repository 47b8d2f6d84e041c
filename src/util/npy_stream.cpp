// Streaming .npy access (include/relgeo/npy.h: NpyReader, NpyMatrixWriter): the
// commands that take files of any size read and write them a block of rows at a
// time, so their memory is bounded by the block (docs/design.md §3.3). The header
// is parsed and checked by the same code as the whole-file reader (npy.cpp).
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "relgeo/file_io.h"
#include "relgeo/npy.h"
#include "util/npy_internal.h"

namespace relgeo {

struct NpyReader::Impl {
  npy_internal::FileSource src;
  std::string path, descr;
  Kind kind = Kind::kMatrix;
  int64_t rows = 0, cols = 0, item = 0, offset = 0, pos = 0;
  std::vector<char> buf;  // one block of raw values when they must be converted

  // Rows [pos, pos + n) as raw bytes into dst (n * cols * item bytes).
  Status ReadRaw(int64_t n, void* dst) {
    const int64_t row_bytes = cols * item;
    if (!src.ReadAt(offset + pos * row_bytes, dst, n * row_bytes))
      return Status::Corruption(path + ": cannot read rows " + std::to_string(pos) + ".." + std::to_string(pos + n - 1) +
                                " (the file was truncated or changed after its header was checked)");
    return Status::OK();
  }
  int64_t Take(int64_t max_rows) const { return std::min(max_rows, rows - pos); }
};

NpyReader::NpyReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NpyReader::~NpyReader() = default;

Result<std::unique_ptr<NpyReader>> NpyReader::Open(const std::string& path, Kind kind) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->kind = kind;
  RELGEO_RETURN_IF_ERROR(impl->src.Open(path));
  RELGEO_ASSIGN_OR_RETURN(npy_internal::NpyHeader hdr, npy_internal::ReadHeader(impl->src, path));
  const std::string& d = hdr.descr;
  if (kind == Kind::kMatrix) {
    if (d == "<f4") impl->item = 4;
    else if (d == "<f8") impl->item = 8;
    else return Status::InvalidArgument(path + ": dtype '" + d + "' is not supported; use float32 or float64");
  } else {
    if (hdr.shape.size() == 2 && hdr.shape[1] != 1)
      return Status::InvalidArgument(path + ": expected a 1-D array of ids, got shape " + npy_internal::ShapeText(hdr.shape));
    if (d == "<i8" || d == "<u8") impl->item = 8;
    else if (d == "<i4" || d == "<u4") impl->item = 4;
    else return Status::InvalidArgument(path + ": dtype '" + d + "' is not an integer type; use int64");
  }
  RELGEO_ASSIGN_OR_RETURN(const int64_t count, npy_internal::CheckPayload(impl->src, path, hdr, impl->item));
  (void)count;
  impl->descr = d;
  impl->rows = hdr.shape[0];
  impl->cols = hdr.shape.size() == 2 ? hdr.shape[1] : 1;
  impl->offset = hdr.data_offset;
  return std::unique_ptr<NpyReader>(new NpyReader(std::move(impl)));
}

int64_t NpyReader::rows() const { return impl_->rows; }
int64_t NpyReader::cols() const { return impl_->cols; }
int64_t NpyReader::position() const { return impl_->pos; }
int64_t NpyReader::data_offset() const { return impl_->offset; }
const std::string& NpyReader::path() const { return impl_->path; }

Status NpyReader::Seek(int64_t row) {
  if (row < 0 || row > impl_->rows)
    return Status::InvalidArgument(impl_->path + ": row " + std::to_string(row) + " is outside 0.." +
                                   std::to_string(impl_->rows));
  impl_->pos = row;
  return Status::OK();
}

Result<int64_t> NpyReader::ReadRows(int64_t max_rows, Matrix* out) {
  Impl& s = *impl_;
  if (s.kind != Kind::kMatrix) return Status::InvalidArgument(s.path + " was opened as ids, not as a matrix");
  if (max_rows <= 0) return Status::InvalidArgument("ReadRows: max_rows must be positive, got " + std::to_string(max_rows));
  const int64_t n = s.Take(max_rows);
  if (out->rows() != n || out->cols() != s.cols) *out = Matrix(n, s.cols);
  if (n == 0) return n;
  if (s.item == 4) {
    RELGEO_RETURN_IF_ERROR(s.ReadRaw(n, out->data()));
  } else {
    s.buf.resize(static_cast<size_t>(n * s.cols * 8));
    RELGEO_RETURN_IF_ERROR(s.ReadRaw(n, s.buf.data()));
    float* dst = out->data();
    for (int64_t i = 0; i < n * s.cols; ++i) {
      double v;
      std::memcpy(&v, s.buf.data() + i * 8, 8);
      // Beyond float32's range the conversion is undefined behaviour (in practice inf).
      if (std::isfinite(v) && std::fabs(v) > FLT_MAX) {
        char text[32];
        std::snprintf(text, sizeof text, "%.9g", v);
        return Status::InvalidArgument(s.path + ": value " + text + " at row " + std::to_string(s.pos + i / s.cols) +
                                       ", column " + std::to_string(i % s.cols) + " does not fit in float32");
      }
      dst[i] = static_cast<float>(v);
    }
  }
  s.pos += n;
  return n;
}

Result<int64_t> NpyReader::ReadIds(int64_t max_rows, std::vector<int64_t>* out) {
  Impl& s = *impl_;
  if (s.kind != Kind::kIds) return Status::InvalidArgument(s.path + " was opened as a matrix, not as ids");
  if (max_rows <= 0) return Status::InvalidArgument("ReadIds: max_rows must be positive, got " + std::to_string(max_rows));
  const int64_t n = s.Take(max_rows);
  out->resize(static_cast<size_t>(n));
  if (n == 0) return n;
  s.buf.resize(static_cast<size_t>(n * s.item));
  RELGEO_RETURN_IF_ERROR(s.ReadRaw(n, s.buf.data()));
  const char* b = s.buf.data();
  for (int64_t i = 0; i < n; ++i) {
    int64_t v;
    if (s.descr == "<i8") {
      std::memcpy(&v, b + i * 8, 8);
    } else if (s.descr == "<u8") {
      uint64_t u;
      std::memcpy(&u, b + i * 8, 8);
      if (u > static_cast<uint64_t>(INT64_MAX))
        return Status::InvalidArgument(s.path + ": id " + std::to_string(u) + " at index " + std::to_string(s.pos + i) +
                                       " does not fit in int64");
      v = static_cast<int64_t>(u);
    } else if (s.descr == "<i4") {
      int32_t x;
      std::memcpy(&x, b + i * 4, 4);
      v = x;
    } else {
      uint32_t x;
      std::memcpy(&x, b + i * 4, 4);
      v = x;
    }
    (*out)[static_cast<size_t>(i)] = v;
  }
  s.pos += n;
  return n;
}

// ---------------------------------------------------------------- writer
Result<std::unique_ptr<NpyMatrixWriter>> NpyMatrixWriter::Create(const std::string& path, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) return Status::InvalidArgument("cannot write a " + std::to_string(rows) + " x " +
                                                           std::to_string(cols) + " matrix to " + path);
  std::unique_ptr<NpyMatrixWriter> w(new NpyMatrixWriter());
  w->rows_ = rows;
  w->cols_ = cols;
  RELGEO_ASSIGN_OR_RETURN(w->out_, AtomicFileWriter::Open(path));
  RELGEO_RETURN_IF_ERROR(w->out_->Append(npy_internal::NpyHeaderBytes("<f4", {rows, cols})));
  return w;
}

NpyMatrixWriter::~NpyMatrixWriter() = default;

Status NpyMatrixWriter::Append(MatrixView block) {
  if (block.rows() == 0) return Status::OK();
  if (block.cols() != cols_ || block.rows() > rows_ - written_)
    return Status::InvalidArgument(out_->path() + ": a block of " + std::to_string(block.rows()) + " x " +
                                   std::to_string(block.cols()) + " does not fit a " + std::to_string(rows_) + " x " +
                                   std::to_string(cols_) + " matrix with " + std::to_string(written_) +
                                   " rows written");
  RELGEO_RETURN_IF_ERROR(out_->Append(std::string_view(reinterpret_cast<const char*>(block.data()),
                                                       static_cast<size_t>(block.size()) * sizeof(float))));
  written_ += block.rows();
  return Status::OK();
}

Status NpyMatrixWriter::Commit() {
  if (written_ != rows_)
    return Status::Internal(out_->path() + ": " + std::to_string(written_) + " of " + std::to_string(rows_) +
                            " rows were written; the file is not committed");
  return out_->Commit();
}

}  // namespace relgeo
