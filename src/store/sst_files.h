// Internal: sorted table (SST) files written and read without a database open, in
// the database's own format (store/rocks_options.h), for bulk ingestion
// (Store::IngestFiles, docs/distributed.md): a worker writes one, the driver checks
// and ingests it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "relgeo/status.h"

namespace relgeo::store {

// Writes n entries, entry(i) giving the i-th key and value in strictly increasing
// key order, to `path` atomically: a temporary file beside it, then a rename, so a
// reader (or a retried writer) sees either no file or a whole one. n must be >= 1.
Status WriteSstFile(const std::string& path, int64_t n,
                    const std::function<void(int64_t i, std::string* key, std::string* value)>& entry);

// Verifies the file's block checksums, then calls fn(key, value) for every entry in
// order until it returns an error, which is returned.
Status ReadSstFile(const std::string& path,
                   const std::function<Status(const std::string& key, const std::string& value)>& fn);

}  // namespace relgeo::store
