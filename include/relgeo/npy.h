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

}  // namespace relgeo
