// IDX reading/writing with zlib, and the Fashion-MNIST splits.
#include "relgeo/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <sys/stat.h>

namespace relgeo {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes; returns the count actually read (n unless the stream ended).
// A damaged stream is reported through *error.
int64_t ReadFully(gzFile f, uint8_t* out, int64_t n, std::string* error) {
  int64_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - done, 1 << 24));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      *error = msg ? msg : "gzip read error";
      return done;
    }
    if (got == 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      if (errnum != Z_OK && errnum != Z_STREAM_END && msg) *error = msg;
      return done;
    }
    done += got;
  }
  return done;
}

}  // namespace

Result<IdxArray> ReadIdx(const std::string& path, int expected_ndims) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("IDX file " + path + " does not exist");
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  gzbuffer(f.get(), 1 << 17);
  std::string err;
  uint8_t magic[4];
  if (ReadFully(f.get(), magic, 4, &err) != 4)
    return Status::Corruption(path + ": truncated IDX header" + (err.empty() ? "" : " (" + err + ")"));
  if (magic[0] != 0 || magic[1] != 0)
    return Status::Corruption(path + ": not an IDX file (magic number must start with two zero bytes)");
  if (magic[2] != 0x08)
    return Status::Corruption(path + ": IDX element type 0x" + std::to_string(magic[2]) +
                              " is not unsigned byte (0x08)");
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 4) return Status::Corruption(path + ": IDX rank " + std::to_string(ndims) + " out of range 1..4");
  if (expected_ndims > 0 && ndims != expected_ndims)
    return Status::Corruption(path + ": IDX rank is " + std::to_string(ndims) + ", expected " +
                              std::to_string(expected_ndims));
  IdxArray a;
  int64_t total = 1;
  for (int i = 0; i < ndims; ++i) {
    uint8_t b[4];
    if (ReadFully(f.get(), b, 4, &err) != 4) return Status::Corruption(path + ": truncated IDX header (dimensions)");
    const int64_t dim = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    if (dim == 0) return Status::Corruption(path + ": IDX dimension " + std::to_string(i) + " is zero");
    // Checked before multiplying: two dimensions near 2^32 overflow int64.
    if (dim > (int64_t{1} << 32) / total)
      return Status::Corruption(path + ": IDX dimensions describe more than 4 GiB of data");
    total *= dim;
    a.dims.push_back(dim);
  }
  // The sizes are outside bytes: the buffer grows as data arrives (64 KiB, then
  // doubling) instead of holding all the header promises up front (4 GiB for a
  // 20-byte file).
  int64_t got = 0;
  while (got < total) {
    const int64_t chunk = std::min(total - got, std::max<int64_t>(got, int64_t{1} << 16));
    a.data.resize(static_cast<size_t>(got + chunk));
    const int64_t n = ReadFully(f.get(), a.data.data() + got, chunk, &err);
    got += n;
    if (n != chunk) break;
  }
  a.data.resize(static_cast<size_t>(got));
  if (got != total)
    return Status::Corruption(path + ": truncated IDX data: header promises " + std::to_string(total) + " bytes, found " +
                              std::to_string(got) + (err.empty() ? "" : " (" + err + ")"));
  if (!err.empty()) return Status::Corruption(path + ": damaged gzip stream (" + err + ")");
  uint8_t extra;
  const int64_t more = ReadFully(f.get(), &extra, 1, &err);
  if (!err.empty()) return Status::Corruption(path + ": damaged gzip stream (" + err + ")");
  if (more != 0) return Status::Corruption(path + ": trailing bytes after the IDX data the header describes");
  return a;
}

Status WriteIdxGz(const std::string& path, const IdxArray& array) {
  if (array.dims.empty() || array.dims.size() > 4) return Status::InvalidArgument("IDX rank must be 1..4");
  int64_t total = 1;
  for (int64_t d : array.dims) {
    if (d <= 0 || d > 0xffffffffLL) return Status::InvalidArgument("IDX dimension out of range");
    total *= d;
  }
  if (total != static_cast<int64_t>(array.data.size()))
    return Status::InvalidArgument("IDX data has " + std::to_string(array.data.size()) + " bytes, dims say " +
                                   std::to_string(total));
  const std::string tmp = path + ".tmp";
  {
    GzFile f(gzopen(tmp.c_str(), "wb6"));
    if (!f) return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
    std::vector<uint8_t> header = {0, 0, 0x08, static_cast<uint8_t>(array.dims.size())};
    for (int64_t d : array.dims)
      for (int s = 24; s >= 0; s -= 8) header.push_back(static_cast<uint8_t>((d >> s) & 0xff));
    bool ok = gzwrite(f.get(), header.data(), static_cast<unsigned>(header.size())) == static_cast<int>(header.size());
    for (int64_t off = 0; ok && off < total; off += 1 << 24) {
      const unsigned n = static_cast<unsigned>(std::min<int64_t>(total - off, 1 << 24));
      ok = gzwrite(f.get(), array.data.data() + off, n) == static_cast<int>(n);
    }
    if (!ok) return Status::IOError("write failed: " + tmp);
    if (gzclose(f.release()) != Z_OK) return Status::IOError("close failed: " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::OK();
}

Matrix ImageDataset::ToMatrix() const {
  Matrix m(size(), pixels_per_image());
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(pixels[static_cast<size_t>(i)]) / 255.0f;
  return m;
}

ImageDataset ImageDataset::Subset(const std::vector<int64_t>& positions) const {
  ImageDataset out;
  out.height = height;
  out.width = width;
  const int64_t p = pixels_per_image();
  out.pixels.resize(positions.size() * static_cast<size_t>(p));
  for (size_t i = 0; i < positions.size(); ++i) {
    const int64_t src = positions[i];
    std::copy(pixels.begin() + src * p, pixels.begin() + (src + 1) * p, out.pixels.begin() + static_cast<int64_t>(i) * p);
    out.labels.push_back(labels[static_cast<size_t>(src)]);
    out.indices.push_back(indices.empty() ? src : indices[static_cast<size_t>(src)]);
  }
  return out;
}

Result<ImageDataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                    int64_t num_classes) {
  RELGEO_ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path, 3));
  RELGEO_ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path, 1));
  if (images.dims[0] != labels.dims[0])
    return Status::Corruption(images_path + " has " + std::to_string(images.dims[0]) + " images but " + labels_path +
                              " has " + std::to_string(labels.dims[0]) + " labels");
  ImageDataset ds;
  ds.height = images.dims[1];
  ds.width = images.dims[2];
  ds.pixels = std::move(images.data);
  ds.labels.reserve(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    const int64_t l = labels.data[i];
    if (num_classes > 0 && l >= num_classes)
      return Status::Corruption(labels_path + ": label " + std::to_string(l) + " at row " + std::to_string(i) +
                                " is not below " + std::to_string(num_classes));
    ds.labels.push_back(l);
    ds.indices.push_back(static_cast<int64_t>(i));
  }
  return ds;
}

const char* DataSplitName(DataSplit s) {
  switch (s) {
    case DataSplit::kTrain: return "train";
    case DataSplit::kVal: return "val";
    case DataSplit::kTest: return "test";
    case DataSplit::kTrainFull: return "train-full";
  }
  return "unknown";
}

Result<DataSplit> ParseDataSplit(const std::string& name) {
  if (name == "train") return DataSplit::kTrain;
  if (name == "val") return DataSplit::kVal;
  if (name == "test") return DataSplit::kTest;
  if (name == "train-full") return DataSplit::kTrainFull;
  return Status::InvalidArgument("unknown split '" + name + "' (expected train, val, test or train-full)");
}

TrainValSplit SplitTrainVal(int64_t n, double val_fraction, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  const double f = std::clamp(val_fraction, 0.0, 1.0);
  const int64_t nval = static_cast<int64_t>(f * static_cast<double>(n) + 0.5);
  TrainValSplit s;
  s.val.assign(perm.begin(), perm.begin() + nval);
  s.train.assign(perm.begin() + nval, perm.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

Result<ImageDataset> LoadFashionMnist(DataSplit split, const FashionMnistOptions& options) {
  if (options.val_fraction < 0 || options.val_fraction >= 1)
    return Status::InvalidArgument("val_fraction must be in [0, 1)");
  const bool test = split == DataSplit::kTest;
  const std::string prefix = options.dir + (test ? "/t10k" : "/train");
  RELGEO_ASSIGN_OR_RETURN(ImageDataset all,
                          LoadIdxDataset(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", 10));
  if (all.height != 28 || all.width != 28)
    return Status::Corruption(prefix + "-images-idx3-ubyte.gz: images are " + std::to_string(all.height) + "x" +
                              std::to_string(all.width) + ", Fashion-MNIST is 28x28");
  ImageDataset out;
  if (split == DataSplit::kTrain || split == DataSplit::kVal) {
    TrainValSplit s = SplitTrainVal(all.size(), options.val_fraction, options.split_seed);
    out = all.Subset(split == DataSplit::kTrain ? s.train : s.val);
  } else {
    out = std::move(all);
  }
  if (options.limit > 0 && options.limit < out.size()) {
    std::vector<int64_t> first(static_cast<size_t>(options.limit));
    for (int64_t i = 0; i < options.limit; ++i) first[static_cast<size_t>(i)] = i;
    out = out.Subset(first);
  }
  return out;
}

}  // namespace relgeo
