// Internal entry points of the .npy reader (src/util/npy.cpp): the same parser and
// checks as ReadNpyMatrix / ReadNpyInt64, over bytes already in memory. Used by the
// fuzzer (fuzz/npy_fuzzer.cpp) and the white-box tests; not part of the public API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "relgeo/matrix.h"
#include "relgeo/status.h"

namespace relgeo::npy_internal {

// `name` stands in for the file name in error messages.
Result<Matrix> ReadNpyMatrixFromMemory(const void* data, size_t size, const std::string& name);
Result<std::vector<int64_t>> ReadNpyInt64FromMemory(const void* data, size_t size, const std::string& name);

}  // namespace relgeo::npy_internal
