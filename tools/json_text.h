// JSON as the tool prints and writes it: strings that are not UTF-8 (a name or path
// from a damaged database or the command line) come out as U+FFFD instead of making
// dump() throw.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace relgeo::cli {

inline std::string Dump(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace relgeo::cli
