// Image datasets: a validating reader for (gzipped) IDX files and the
// Fashion-MNIST loader with the paper's split (validation = a seeded 10% of the
// training set; anchors come from validation, evaluation uses the test set).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo {

// Where the Debian package `dataset-fashion-mnist` installs the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// A u8 IDX array: dims (e.g. {n, 28, 28} for images, {n} for labels) and the
// row-major data, exactly prod(dims) bytes.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads an IDX file of unsigned bytes (magic 0x00 0x00 0x08 ndims), gzipped or
// not. A wrong magic number, zero or absurd dimensions, a truncated payload,
// trailing bytes or a damaged gzip stream are Corruption errors naming the file;
// a missing file is NotFound. `expected_ndims` > 0 also checks the rank.
Result<IdxArray> ReadIdx(const std::string& path, int expected_ndims = 0);
// Writes a gzipped u8 IDX file (for tests and for exporting subsets).
Status WriteIdxGz(const std::string& path, const IdxArray& array);

// Images with their labels, 28 x 28 u8 for Fashion-MNIST.
struct ImageDataset {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;   // size() * height * width, row-major
  std::vector<int64_t> labels;   // one per image
  std::vector<int64_t> indices;  // each image's row in the original file

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t pixels_per_image() const { return height * width; }
  // n x (height*width) float32 in [0, 1] (pixel / 255): what the autoencoders take.
  Matrix ToMatrix() const;
  // The images (and labels, indices) at the given positions of this dataset.
  ImageDataset Subset(const std::vector<int64_t>& positions) const;
};

// Reads an images file (rank 3) and a labels file (rank 1) and checks that the
// counts agree and every label is < num_classes (when num_classes > 0).
Result<ImageDataset> LoadIdxDataset(const std::string& images_path, const std::string& labels_path,
                                    int64_t num_classes = 0);

enum class DataSplit {
  kTrain,      // the 90% of the original training set that is not validation
  kVal,        // a seeded 10% of the original training set (anchors are drawn here)
  kTest,       // the original test set (evaluation)
  kTrainFull,  // the whole original training set
};
const char* DataSplitName(DataSplit s);
// "train", "val", "test", "train-full".
Result<DataSplit> ParseDataSplit(const std::string& name);

// The seeded train/validation partition of n items: `val_fraction` of them
// (rounded) go to validation. Both lists are sorted ascending. Deterministic for a
// given (n, val_fraction, seed) on every platform (own Fisher-Yates over mt19937_64).
struct TrainValSplit {
  std::vector<int64_t> train;
  std::vector<int64_t> val;
};
TrainValSplit SplitTrainVal(int64_t n, double val_fraction = 0.1, uint64_t seed = 0);

struct FashionMnistOptions {
  std::string dir = kFashionMnistDir;  // holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
  double val_fraction = 0.1;
  uint64_t split_seed = 0;  // the train/val partition; the same for every model of an experiment
  int64_t limit = 0;        // > 0: keep only the first `limit` images of the split (smoke runs)
};

// One split of Fashion-MNIST (60,000 train / 10,000 test, 10 classes, 28 x 28).
Result<ImageDataset> LoadFashionMnist(DataSplit split, const FashionMnistOptions& options = {});

}  // namespace relgeo
