// Row-major float32 matrices: an owning Matrix and a non-owning MatrixView
// over caller memory. Batch-first: one row per sample.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "relgeo/status.h"

namespace relgeo {

class MatrixView {
 public:
  MatrixView() = default;
  MatrixView(const float* data, int64_t rows, int64_t cols) : data_(data), rows_(rows), cols_(cols) {}

  const float* data() const { return data_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  bool empty() const { return rows_ == 0 || cols_ == 0; }
  const float* row(int64_t r) const { return data_ + r * cols_; }
  float operator()(int64_t r, int64_t c) const { return data_[r * cols_ + c]; }
  // Rows [begin, begin + count) as a view.
  MatrixView RowSlice(int64_t begin, int64_t count) const { return {row(begin), count, cols_}; }

 private:
  const float* data_ = nullptr;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
};

class Matrix {
 public:
  Matrix() = default;
  Matrix(int64_t rows, int64_t cols, float fill = 0.0f)
      : rows_(rows), cols_(cols), data_(static_cast<size_t>(rows * cols), fill) {}
  Matrix(int64_t rows, int64_t cols, std::vector<float> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {}
  static Matrix CopyOf(MatrixView v) { return Matrix(v.rows(), v.cols(), std::vector<float>(v.data(), v.data() + v.size())); }

  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  bool empty() const { return rows_ == 0 || cols_ == 0; }
  float* row(int64_t r) { return data_.data() + r * cols_; }
  const float* row(int64_t r) const { return data_.data() + r * cols_; }
  float& operator()(int64_t r, int64_t c) { return data_[r * cols_ + c]; }
  float operator()(int64_t r, int64_t c) const { return data_[r * cols_ + c]; }
  MatrixView view() const { return {data_.data(), rows_, cols_}; }
  operator MatrixView() const { return view(); }  // NOLINT: a Matrix is usable wherever a view is
  std::vector<float>& storage() { return data_; }
  const std::vector<float>& storage() const { return data_; }

 private:
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  std::vector<float> data_;
};

// Validation shared by every entry point that takes latents: non-empty, the expected
// column count (any when expected_cols <= 0), all values finite. `what` names the
// argument in the message.
Status CheckLatents(MatrixView m, int64_t expected_cols, const char* what);

}  // namespace relgeo
