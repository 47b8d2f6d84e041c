// .npy reader/writer. The format: magic "\x93NUMPY", major/minor version, a
// little-endian header length (u16 for v1, u32 for v2/3), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), } padded to 64,
// then the data.
//
// Reading trusts nothing in the file: the header length is checked against the
// file's size, the dict is parsed strictly (ASCII only, exactly the three keys,
// integers with overflow detection), and the byte count the shape promises is
// computed with overflow checks and compared with the bytes actually present
// before anything of that size is allocated. So a hostile header cannot make the
// reader allocate more than the file's own size, nor read past what it allocated.
#include "relgeo/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <type_traits>

#include "relgeo/file_io.h"
#include "util/npy_internal.h"

namespace relgeo {
namespace npy_internal {
namespace {

// np.save writes headers of a few hundred bytes; anything past this is not a .npy file.
constexpr uint32_t kMaxHeaderLen = 1u << 20;
// An array with no elements has no data to bound its other dimension: (0, 10^18)
// would pass every size check and hand callers a matrix claiming 10^18 columns.
constexpr int64_t kMaxEmptyDim = std::numeric_limits<int32_t>::max();

}  // namespace

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  return s + ")";
}

namespace {

std::string ShortText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

class MemorySource final : public Source {
 public:
  MemorySource(const void* data, size_t size) : data_(static_cast<const char*>(data)) {
    size_ = static_cast<int64_t>(std::min<size_t>(size, std::numeric_limits<int64_t>::max()));
  }
  bool ReadAt(int64_t offset, void* dst, int64_t n) override {
    if (n == 0) return true;
    if (offset < 0 || n < 0 || offset > size_ || n > size_ - offset) return false;
    std::memcpy(dst, data_ + offset, static_cast<size_t>(n));
    return true;
  }

 private:
  const char* data_;
};

// A strict parser for the header dict: {'descr': <str>, 'fortran_order': <bool>,
// 'shape': <tuple of ints>} with ' or " quotes, optional trailing commas and any key
// order, which covers every header NumPy writes. Anything else is Corruption.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& name) : t_(text), name_(name) {}

  Result<NpyHeader> Parse() {
    for (size_t i = 0; i < t_.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(t_[i]);
      if ((c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t') {
        static const char* kHex = "0123456789abcdef";
        return Status::Corruption(name_ + ": .npy header contains a non-ASCII or control byte 0x" + kHex[c >> 4] +
                                  kHex[c & 15] + " at offset " + std::to_string(i) +
                                  "; the header must be an ASCII Python dict literal");
      }
    }
    NpyHeader hdr;
    bool have_descr = false, have_fortran = false, have_shape = false;
    SkipSpace();
    if (!Consume('{')) return Error("the header is not a Python dict literal (it does not start with '{')");
    SkipSpace();
    while (!Consume('}')) {
      if (pos_ >= t_.size()) return Error("the dict is not closed with '}'");
      RELGEO_ASSIGN_OR_RETURN(std::string key, ParseString("a key"));
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after key '" + key + "'");
      SkipSpace();
      bool* seen = nullptr;
      if (key == "descr") {
        seen = &have_descr;
        if (Peek() == '[')
          return Status::InvalidArgument(name_ + ": structured dtypes (a list as 'descr') are not supported; "
                                                 "use float32/float64, or an integer array for ids");
        if (Peek() != '\'' && Peek() != '"') return Error("the value of 'descr' must be a quoted dtype string such as '<f4'");
        RELGEO_ASSIGN_OR_RETURN(hdr.descr, ParseString("the value of 'descr'"));
      } else if (key == "fortran_order") {
        seen = &have_fortran;
        if (ConsumeWord("True")) {
          hdr.fortran_order = true;
        } else if (ConsumeWord("False")) {
          hdr.fortran_order = false;
        } else {
          return Error("the value of 'fortran_order' must be True or False");
        }
      } else if (key == "shape") {
        seen = &have_shape;
        RELGEO_ASSIGN_OR_RETURN(hdr.shape, ParseShape());
      } else {
        return Error("unexpected key '" + key + "' (a .npy header has exactly descr, fortran_order and shape)");
      }
      if (*seen) return Error("key '" + key + "' appears twice");
      *seen = true;
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
      } else if (Peek() != '}') {
        return Error("expected ',' or '}' after the value of '" + key + "'");
      }
    }
    SkipSpace();
    if (pos_ != t_.size()) return Error("unexpected text after the dict's closing '}'");
    if (!have_descr) return Status::Corruption(name_ + ": .npy header lacks 'descr'");
    if (!have_fortran) return Status::Corruption(name_ + ": .npy header lacks 'fortran_order'");
    if (!have_shape) return Status::Corruption(name_ + ": .npy header lacks 'shape'");
    return hdr;
  }

 private:
  char Peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
  bool Consume(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void SkipSpace() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  // `word` not followed by an identifier character (so "Falsey" is not False).
  bool ConsumeWord(const char* word) {
    const size_t n = std::strlen(word);
    if (t_.compare(pos_, n, word) != 0) return false;
    const char next = pos_ + n < t_.size() ? t_[pos_ + n] : '\0';
    if (std::isalnum(static_cast<unsigned char>(next)) || next == '_') return false;
    pos_ += n;
    return true;
  }
  Status Error(const std::string& what) const {
    return Status::Corruption(name_ + ": malformed .npy header dict: " + what + " (at offset " + std::to_string(pos_) + ")");
  }

  // A '...' or "..." literal without escapes (NumPy never writes any).
  Result<std::string> ParseString(const std::string& what) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a quoted string as " + what);
    const size_t begin = ++pos_;
    while (pos_ < t_.size() && t_[pos_] != quote) {
      if (t_[pos_] == '\\' || t_[pos_] == '\n') return Error("unsupported character in the string used as " + what);
      ++pos_;
    }
    if (pos_ >= t_.size()) return Error("unterminated string as " + what);
    std::string s = t_.substr(begin, pos_ - begin);
    ++pos_;
    return s;
  }

  // (a, b) / (a,) / () of non-negative decimal integers (a Python 2 'L' suffix allowed).
  Result<std::vector<int64_t>> ParseShape() {
    std::vector<int64_t> dims;
    if (!Consume('(')) return Error("the value of 'shape' must be a tuple of non-negative integers");
    SkipSpace();
    if (Consume(')')) return dims;
    while (true) {
      if (Peek() == '-') return Error("negative dimension in 'shape'");
      if (!std::isdigit(static_cast<unsigned char>(Peek())))
        return Error("the value of 'shape' must be a tuple of non-negative integers");
      const size_t begin = pos_;
      int64_t v = 0;
      bool overflow = false;
      while (std::isdigit(static_cast<unsigned char>(Peek()))) {
        const int digit = t_[pos_] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) overflow = true;
        if (!overflow) v = v * 10 + digit;
        ++pos_;
      }
      if (overflow)
        return Error("a dimension in 'shape' has " + std::to_string(pos_ - begin) +
                     " digits and does not fit in a signed 64-bit integer");
      Consume('L');
      dims.push_back(v);
      SkipSpace();
      if (Consume(')')) break;
      if (!Consume(',')) return Error("expected ',' or ')' in 'shape'");
      SkipSpace();
      if (Consume(')')) break;
    }
    return dims;
  }

  const std::string& t_;
  const std::string& name_;
  size_t pos_ = 0;
};

uint32_t LittleEndian(const unsigned char* b, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

}  // namespace

Result<NpyHeader> ReadHeader(Source& src, const std::string& name) {
  unsigned char pre[12];
  if (src.size() < 8 || !src.ReadAt(0, pre, 8) || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    return Status::Corruption(name + " is not a .npy file (bad magic)");
  const int major = pre[6];
  int len_bytes = 0;
  if (major == 1) {
    len_bytes = 2;
  } else if (major == 2 || major == 3) {
    len_bytes = 4;
  } else {
    return Status::Corruption(name + ": unsupported .npy format version " + std::to_string(major));
  }
  const int64_t prefix = 8 + len_bytes;
  if (src.size() < prefix || !src.ReadAt(8, pre + 8, len_bytes))
    return Status::Corruption(name + ": truncated .npy file (it ends inside the header length field)");
  const uint32_t header_len = LittleEndian(pre + 8, len_bytes);
  if (header_len > src.size() - prefix)
    return Status::Corruption(name + ": .npy header length " + std::to_string(header_len) +
                              " points past the end of the file (" + std::to_string(src.size()) + " bytes)");
  if (header_len > kMaxHeaderLen)
    return Status::Corruption(name + ": .npy header length " + std::to_string(header_len) + " is implausible");
  std::string text(header_len, '\0');
  if (!src.ReadAt(prefix, text.data(), header_len)) return Status::IOError("failed reading " + name);

  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, DictParser(text, name).Parse());
  hdr.data_offset = prefix + header_len;
  if (hdr.fortran_order)
    return Status::InvalidArgument(name + ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  if (hdr.shape.size() > 2 || hdr.shape.empty())
    return Status::InvalidArgument(name + ": expected a 1-D or 2-D array, got " + std::to_string(hdr.shape.size()) +
                                   " dimensions");
  return hdr;
}

Result<int64_t> CheckPayload(const Source& src, const std::string& name, const NpyHeader& hdr, int64_t item) {
  const std::string shape = ShapeText(hdr.shape);
  const bool empty = std::find(hdr.shape.begin(), hdr.shape.end(), 0) != hdr.shape.end();
  int64_t count = empty ? 0 : 1;
  int64_t bytes = 0;
  if (!empty) {
    for (int64_t d : hdr.shape) {
      if (__builtin_mul_overflow(count, d, &count))
        return Status::Corruption(name + ": .npy header shape " + shape +
                                  " claims more values than fit in a 64-bit count (the file holds " +
                                  std::to_string(src.size() - hdr.data_offset) + " bytes of data)");
    }
  }
  if (__builtin_mul_overflow(count, item, &bytes))
    return Status::Corruption(name + ": .npy header shape " + shape + " claims " + std::to_string(count) + " values of " +
                              std::to_string(item) + " bytes, more than fit in a 64-bit size (the file holds " +
                              std::to_string(src.size() - hdr.data_offset) + " bytes of data)");
  const int64_t payload = src.size() - hdr.data_offset;  // >= 0: the header length was checked
  if (bytes > payload)
    return Status::Corruption(name + ": data is truncated (header shape " + shape + " promises " + std::to_string(count) +
                              " values, " + std::to_string(bytes) + " bytes; the file holds " + std::to_string(payload) +
                              " bytes of data, " + std::to_string(payload / item) + " values)");
  if (bytes < payload)
    return Status::Corruption(name + ": file is longer than its header's shape " + shape + " says (" +
                              std::to_string(payload - bytes) + " extra bytes)");
  for (int64_t d : hdr.shape) {
    if (empty && d > kMaxEmptyDim)
      return Status::Corruption(name + ": .npy header shape " + shape + " has no elements but a dimension of " +
                                std::to_string(d) + ", which no data backs");
  }
  return count;
}

namespace {

// Reads `count` values of type T at `offset` a chunk at a time (bounded extra
// memory, aligned copies) and hands each chunk to each(values, n, index_of_first).
template <typename T, typename F>
Status ReadInChunks(Source& src, const std::string& name, int64_t offset, int64_t count, F&& each) {
  constexpr int64_t kChunk = 1 << 14;
  std::vector<T> buf(static_cast<size_t>(std::min(count, kChunk)));
  for (int64_t done = 0; done < count;) {
    const int64_t n = std::min(kChunk, count - done);
    if (!src.ReadAt(offset + done * static_cast<int64_t>(sizeof(T)), buf.data(), n * static_cast<int64_t>(sizeof(T))))
      return Status::IOError("failed reading " + name);
    RELGEO_RETURN_IF_ERROR(each(buf.data(), n, done));
    done += n;
  }
  return Status::OK();
}

Result<Matrix> ReadMatrix(Source& src, const std::string& name) {
  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, ReadHeader(src, name));
  int64_t item = 0;
  if (hdr.descr == "<f4") {
    item = 4;
  } else if (hdr.descr == "<f8") {
    item = 8;
  } else {
    return Status::InvalidArgument(name + ": dtype '" + hdr.descr + "' is not supported; use float32 or float64");
  }
  RELGEO_ASSIGN_OR_RETURN(const int64_t count, CheckPayload(src, name, hdr, item));
  const int64_t rows = hdr.shape[0];
  const int64_t cols = hdr.shape.size() == 2 ? hdr.shape[1] : 1;
  Matrix m(rows, cols);  // rows * cols == count values, all of them present in the file
  if (count == 0) return m;
  if (item == 4) {
    if (!src.ReadAt(hdr.data_offset, m.data(), count * 4)) return Status::IOError("failed reading " + name);
    return m;
  }
  float* out = m.data();
  RELGEO_RETURN_IF_ERROR(ReadInChunks<double>(src, name, hdr.data_offset, count, [&](const double* v, int64_t n, int64_t at) {
    for (int64_t i = 0; i < n; ++i) {
      // Beyond float32's range the conversion is undefined behaviour (in practice inf).
      if (std::isfinite(v[i]) && std::fabs(v[i]) > FLT_MAX)
        return Status::InvalidArgument(name + ": value " + ShortText(v[i]) + " at row " +
                                       std::to_string((at + i) / cols) + ", column " + std::to_string((at + i) % cols) +
                                       " does not fit in float32");
      out[at + i] = static_cast<float>(v[i]);
    }
    return Status::OK();
  }));
  return m;
}

Result<std::vector<int64_t>> ReadIds(Source& src, const std::string& name) {
  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, ReadHeader(src, name));
  if (hdr.shape.size() == 2 && hdr.shape[1] != 1)
    return Status::InvalidArgument(name + ": expected a 1-D array of ids, got shape " + ShapeText(hdr.shape));
  int64_t item = 0;
  if (hdr.descr == "<i8" || hdr.descr == "<u8") {
    item = 8;
  } else if (hdr.descr == "<i4" || hdr.descr == "<u4") {
    item = 4;
  } else {
    return Status::InvalidArgument(name + ": dtype '" + hdr.descr + "' is not an integer type; use int64");
  }
  RELGEO_ASSIGN_OR_RETURN(const int64_t count, CheckPayload(src, name, hdr, item));
  std::vector<int64_t> out(static_cast<size_t>(count));  // all of them present in the file
  if (count == 0) return out;
  auto widen = [&](auto zero) {
    using T = decltype(zero);
    return ReadInChunks<T>(src, name, hdr.data_offset, count, [&](const T* v, int64_t n, int64_t at) {
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, uint64_t>) {
          if (v[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return Status::InvalidArgument(name + ": id " + std::to_string(v[i]) + " at index " + std::to_string(at + i) +
                                           " does not fit in int64");
        }
        out[static_cast<size_t>(at + i)] = static_cast<int64_t>(v[i]);
      }
      return Status::OK();
    });
  };
  if (hdr.descr == "<i8") {
    if (!src.ReadAt(hdr.data_offset, out.data(), count * 8)) return Status::IOError("failed reading " + name);
  } else if (hdr.descr == "<u8") {
    RELGEO_RETURN_IF_ERROR(widen(uint64_t{0}));
  } else if (hdr.descr == "<i4") {
    RELGEO_RETURN_IF_ERROR(widen(int32_t{0}));
  } else {
    RELGEO_RETURN_IF_ERROR(widen(uint32_t{0}));
  }
  return out;
}

}  // namespace

std::string NpyHeaderBytes(const std::string& descr, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + ShapeText(shape) + ", }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  const uint16_t len = static_cast<uint16_t>(dict.size());
  const char head[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', '\x01', '\x00', static_cast<char>(len & 0xff),
                         static_cast<char>(len >> 8)};
  return std::string(head, sizeof head) + dict;
}

namespace {

// Header and data in one all-or-nothing write (relgeo/file_io.h): a failed write
// leaves whatever `path` held before, never a truncated .npy.
Status WriteRaw(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                int64_t bytes) {
  return WriteFileAtomically(path, {NpyHeaderBytes(descr, shape),
                                    std::string_view(static_cast<const char*>(data), static_cast<size_t>(bytes))});
}

}  // namespace

Result<Matrix> ReadNpyMatrixFromMemory(const void* data, size_t size, const std::string& name) {
  MemorySource src(data, size);
  return ReadMatrix(src, name);
}

Result<std::vector<int64_t>> ReadNpyInt64FromMemory(const void* data, size_t size, const std::string& name) {
  MemorySource src(data, size);
  return ReadIds(src, name);
}

Status FileSource::Open(const std::string& path) {
  // Only regular files: a FIFO would block the open, a device has no size to check.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return Status::InvalidArgument(path + " is not a regular file (an .npy file is expected)");
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) return Status::NotFound("cannot open " + path);
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))
    return Status::IOError("cannot determine the size of " + path + " (not a regular file?)");
  size_ = static_cast<int64_t>(st.st_size);
  return Status::OK();
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileSource::ReadAt(int64_t offset, void* dst, int64_t n) {
  if (n == 0) return true;
  if (fd_ < 0 || offset < 0 || n < 0 || offset > size_ || n > size_ - offset) return false;
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, static_cast<size_t>(n), static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;  // an error, or the file shrank under us
    p += r;
    offset += r;
    n -= r;
  }
  return true;
}

}  // namespace npy_internal

using npy_internal::FileSource;

Result<Matrix> ReadNpyMatrix(const std::string& path) {
  FileSource src;
  RELGEO_RETURN_IF_ERROR(src.Open(path));
  return npy_internal::ReadMatrix(src, path);
}

Result<std::vector<int64_t>> ReadNpyInt64(const std::string& path) {
  FileSource src;
  RELGEO_RETURN_IF_ERROR(src.Open(path));
  return npy_internal::ReadIds(src, path);
}

Status WriteNpyMatrix(const std::string& path, MatrixView m) {
  return npy_internal::WriteRaw(path, "<f4", {m.rows(), m.cols()}, m.data(), m.size() * 4);
}

Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& values) {
  return npy_internal::WriteRaw(path, "<i8", {static_cast<int64_t>(values.size())}, values.data(),
                  static_cast<int64_t>(values.size()) * 8);
}

Status WriteNpyUint8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return npy_internal::WriteRaw(path, "|u1", shape, data, n);
}

}  // namespace relgeo
