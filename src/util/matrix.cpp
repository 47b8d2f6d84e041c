#include "relgeo/matrix.h"

#include <cmath>
#include <string>

namespace relgeo {

Status CheckLatents(MatrixView m, int64_t expected_cols, const char* what) {
  if (m.rows() == 0) return Status::InvalidArgument(std::string(what) + " are empty (0 rows)");
  if (m.data() == nullptr) return Status::InvalidArgument(std::string(what) + " have no data");
  if (expected_cols > 0 && m.cols() != expected_cols)
    return Status::InvalidArgument(std::string(what) + " have " + std::to_string(m.cols()) + " columns, expected " +
                                   std::to_string(expected_cols));
  for (int64_t i = 0; i < m.size(); ++i) {
    if (!std::isfinite(m.data()[i]))
      return Status::InvalidArgument(std::string(what) + " contain a non-finite value (" + std::to_string(m.data()[i]) +
                                     ") at row " + std::to_string(i / m.cols()) + ", column " +
                                     std::to_string(i % m.cols()));
  }
  return Status::OK();
}

}  // namespace relgeo
