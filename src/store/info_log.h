// Internal: the info LOG relgeo gives RocksDB (store.cpp only; includes RocksDB).
#pragma once

#include <rocksdb/env.h>

#include <memory>
#include <string>

namespace relgeo::store {

// An info logger that cannot abort: Debian's RocksDB 7.8 asserts inside its own
// LOG writer when a write fails (ENOSPC), which killed the process with the disk
// full (docs/design.md §5.5). This one writes DIR/LOG with checked writes and
// only counts failures. Read-only opens (and a LOG that cannot be opened) log to
// nothing.
std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir, bool read_only);

}  // namespace relgeo::store
