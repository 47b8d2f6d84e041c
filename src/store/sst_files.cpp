// SST files outside a database (sst_files.h).
#include "store/sst_files.h"

#include <rocksdb/env.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/sst_file_writer.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "store/rocks_options.h"

namespace relgeo::store {

Status WriteSstFile(const std::string& path, int64_t n,
                    const std::function<void(int64_t i, std::string* key, std::string* value)>& entry) {
  if (n <= 0) return Status::InvalidArgument("an SST file needs at least one entry: '" + path + "'");
  // Unique per process and thread: two attempts of one task never share a temporary.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  rocksdb::Options opts = RocksOptions();
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), opts);
  Status s = FromRocksStatus(writer.Open(tmp), "creating '" + tmp + "'");
  std::string key, value, last;
  for (int64_t i = 0; s.ok() && i < n; ++i) {
    entry(i, &key, &value);
    if (i > 0 && key <= last) {
      s = Status::InvalidArgument("SST entries out of order (or duplicated) at entry " + std::to_string(i));
      break;
    }
    s = FromRocksStatus(writer.Put(key, value), "writing '" + tmp + "'");
    last.swap(key);
  }
  if (s.ok()) s = FromRocksStatus(writer.Finish(), "finishing '" + tmp + "'");  // Finish fsyncs the file
  std::error_code ec;
  if (s.ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec) s = Status::IOError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  }
  if (!s.ok()) std::filesystem::remove(tmp, ec);
  return s;
}

Status ReadSstFile(const std::string& path,
                   const std::function<Status(const std::string& key, const std::string& value)>& fn) {
  rocksdb::Options opts = RocksOptions();
  rocksdb::SstFileReader reader(opts);
  const std::string what = "SST file '" + path + "'";
  Status s = FromRocksStatus(reader.Open(path), "opening " + what);
  if (!s.ok()) return s.code() == StatusCode::kIOError || s.code() == StatusCode::kNotFound ? s : Status::Corruption(s.message());
  rocksdb::Status v = reader.VerifyChecksum();
  if (!v.ok()) return Status::Corruption(what + " fails its checksums: " + v.ToString());
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    RELGEO_RETURN_IF_ERROR(fn(it->key().ToString(), it->value().ToString()));
  if (!it->status().ok()) return Status::Corruption(what + ": " + it->status().ToString());
  return Status::OK();
}

}  // namespace relgeo::store
