// .npy reader/writer. The format: magic "\x93NUMPY", major/minor version, a
// little-endian header length (u16 for v1, u32 for v2/3), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), } padded to 64.
#include "relgeo/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace relgeo {
namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  int64_t data_offset = 0;
};

// Value of `key` in the header dict, as raw text up to the next top-level comma.
bool FindField(const std::string& h, const std::string& key, std::string* out) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos) return false;
  p = h.find(':', p);
  if (p == std::string::npos) return false;
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  size_t end = p;
  if (h[p] == '(') {
    end = h.find(')', p);
    if (end == std::string::npos) return false;
    ++end;
  } else if (h[p] == '\'') {
    end = h.find('\'', p + 1);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    while (end < h.size() && h[end] != ',' && h[end] != '}') ++end;
  }
  *out = h.substr(p, end - p);
  return true;
}

Result<NpyHeader> ReadHeader(std::ifstream& in, const std::string& path) {
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return Status::Corruption(path + " is not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  int64_t prefix = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) return Status::Corruption(path + ": truncated .npy header");
    header_len = b[0] | (b[1] << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) return Status::Corruption(path + ": truncated .npy header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    prefix = 12;
  } else {
    return Status::Corruption(path + ": unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > (1u << 20)) return Status::Corruption(path + ": .npy header length is implausible");
  std::string h(header_len, '\0');
  if (!in.read(h.data(), header_len)) return Status::Corruption(path + ": truncated .npy header");

  NpyHeader hdr;
  hdr.data_offset = prefix + header_len;
  std::string descr, fortran, shape;
  if (!FindField(h, "descr", &descr) || !FindField(h, "fortran_order", &fortran) || !FindField(h, "shape", &shape))
    return Status::Corruption(path + ": .npy header lacks descr, fortran_order or shape");
  if (descr.size() < 2) return Status::Corruption(path + ": bad dtype in .npy header");
  hdr.descr = descr.substr(1, descr.size() - 2);
  hdr.fortran_order = fortran.rfind("True", 0) == 0;
  // shape "(a, b)" / "(a,)" / "()"
  std::string inner = shape.substr(1, shape.size() - 2);
  std::stringstream ss(inner);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    size_t b = tok.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    tok = tok.substr(b);
    char* endp = nullptr;
    long long v = std::strtoll(tok.c_str(), &endp, 10);
    if (endp == tok.c_str() || v < 0) return Status::Corruption(path + ": bad shape in .npy header: " + shape);
    hdr.shape.push_back(v);
  }
  return hdr;
}

Status CheckPayload(std::ifstream& in, const std::string& path, const NpyHeader& hdr, int64_t count, int64_t item) {
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  const int64_t need = hdr.data_offset + count * item;
  if (file_size < need)
    return Status::Corruption(path + ": data is truncated (header promises " + std::to_string(count) +
                              " values, file holds " + std::to_string((file_size - hdr.data_offset) / item) + ")");
  if (file_size > need)
    return Status::Corruption(path + ": file is longer than its header's shape says (" + std::to_string(file_size - need) +
                              " extra bytes)");
  in.seekg(hdr.data_offset);
  return Status::OK();
}

Result<NpyHeader> OpenChecked(std::ifstream& in, const std::string& path) {
  if (!in) return Status::NotFound("cannot open " + path);
  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, ReadHeader(in, path));
  if (hdr.fortran_order) return Status::InvalidArgument(path + ": Fortran-order arrays are not supported; save with np.ascontiguousarray");
  if (hdr.shape.size() > 2 || hdr.shape.empty())
    return Status::InvalidArgument(path + ": expected a 1-D or 2-D array, got " + std::to_string(hdr.shape.size()) + " dimensions");
  return hdr;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  return s + ")";
}

Status WriteRaw(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                int64_t bytes) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + ShapeText(shape) + ", }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict += std::string(pad, ' ') + "\n";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + path);
  const uint16_t len = static_cast<uint16_t>(dict.size());
  out.write("\x93NUMPY\x01\x00", 8);
  char lb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(lb, 2);
  out.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  out.write(static_cast<const char*>(data), bytes);
  if (!out) return Status::IOError("failed writing " + path);
  return Status::OK();
}

}  // namespace

Result<Matrix> ReadNpyMatrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, OpenChecked(in, path));
  const int64_t rows = hdr.shape[0];
  const int64_t cols = hdr.shape.size() == 2 ? hdr.shape[1] : 1;
  const int64_t count = rows * cols;
  Matrix m(rows, cols);
  if (hdr.descr == "<f4") {
    RELGEO_RETURN_IF_ERROR(CheckPayload(in, path, hdr, count, 4));
    in.read(reinterpret_cast<char*>(m.data()), count * 4);
  } else if (hdr.descr == "<f8") {
    RELGEO_RETURN_IF_ERROR(CheckPayload(in, path, hdr, count, 8));
    std::vector<double> tmp(static_cast<size_t>(count));
    in.read(reinterpret_cast<char*>(tmp.data()), count * 8);
    for (int64_t i = 0; i < count; ++i) m.data()[i] = static_cast<float>(tmp[i]);
  } else {
    return Status::InvalidArgument(path + ": dtype '" + hdr.descr + "' is not supported; use float32 or float64");
  }
  if (!in) return Status::IOError("failed reading " + path);
  return m;
}

Result<std::vector<int64_t>> ReadNpyInt64(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RELGEO_ASSIGN_OR_RETURN(NpyHeader hdr, OpenChecked(in, path));
  if (hdr.shape.size() == 2 && hdr.shape[1] != 1)
    return Status::InvalidArgument(path + ": expected a 1-D array of ids, got shape " + ShapeText(hdr.shape));
  const int64_t count = hdr.shape[0];
  std::vector<int64_t> out(static_cast<size_t>(count));
  auto read_as = [&](auto zero) -> Status {
    using T = decltype(zero);
    RELGEO_RETURN_IF_ERROR(CheckPayload(in, path, hdr, count, sizeof(T)));
    std::vector<T> tmp(static_cast<size_t>(count));
    in.read(reinterpret_cast<char*>(tmp.data()), count * static_cast<int64_t>(sizeof(T)));
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int64_t>(tmp[i]);
    return in ? Status::OK() : Status::IOError("failed reading " + path);
  };
  if (hdr.descr == "<i8") { RELGEO_RETURN_IF_ERROR(read_as(int64_t{0})); }
  else if (hdr.descr == "<i4") { RELGEO_RETURN_IF_ERROR(read_as(int32_t{0})); }
  else if (hdr.descr == "<u4") { RELGEO_RETURN_IF_ERROR(read_as(uint32_t{0})); }
  else if (hdr.descr == "<u8") {
    RELGEO_RETURN_IF_ERROR(read_as(uint64_t{0}));
    for (int64_t v : out) if (v < 0) return Status::InvalidArgument(path + ": id does not fit in int64");
  } else {
    return Status::InvalidArgument(path + ": dtype '" + hdr.descr + "' is not an integer type; use int64");
  }
  return out;
}

Status WriteNpyMatrix(const std::string& path, MatrixView m) {
  return WriteRaw(path, "<f4", {m.rows(), m.cols()}, m.data(), m.size() * 4);
}

Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& values) {
  return WriteRaw(path, "<i8", {static_cast<int64_t>(values.size())}, values.data(),
                  static_cast<int64_t>(values.size()) * 8);
}

Status WriteNpyUint8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return WriteRaw(path, "|u1", shape, data, n);
}

}  // namespace relgeo
