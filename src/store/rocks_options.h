// Internal: the RocksDB options every relgeo database uses (store.cpp), shared with
// the table files written outside a database (sst_files.cpp), which must agree with
// them: comparator, table format, filter, compression.
#pragma once

#include <rocksdb/options.h>
#include <rocksdb/status.h>

#include <string>

#include "relgeo/status.h"

namespace relgeo::store {

rocksdb::Options RocksOptions();
Status FromRocksStatus(const rocksdb::Status& s, const std::string& context);

}  // namespace relgeo::store
