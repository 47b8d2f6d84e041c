// Database plumbing shared by the commands (db_common.h).
#include "db_common.h"

#include <unistd.h>

#include <cstdio>

#include "cli_common.h"
#include "relgeo/file_io.h"
#include "relgeo/metric_map.h"

namespace relgeo::cli {

std::unique_ptr<Database> OpenDb(const std::string& dir, bool create) {
  DatabaseOptions o;
  o.create_if_missing = create;
  return OrDie(Database::Open(dir, o), "--db " + dir);
}

void Warn(const std::string& s) { std::fprintf(stderr, "relgeo: warning: %s\n", PrintableText(s).c_str()); }

std::unique_ptr<Database> OpenDbToRead(const std::string& dir, bool read_only) {
  DatabaseOptions o;
  o.create_if_missing = false;
  o.read_only = read_only || ::access(dir.c_str(), W_OK) != 0;
  auto db = Database::Open(dir, o);
  if (!db.ok() && !o.read_only && db.status().code() == StatusCode::kIOError &&
      db.status().message().find("disk full") != std::string::npos) {
    Warn(db.status().message() + "; reading it read-only");
    o.read_only = true;
    db = Database::Open(dir, o);
  }
  return OrDie(std::move(db), "--db " + dir);
}

void CloseOrWarn(std::unique_ptr<Database>& db) {
  Status s = db->Close();
  if (!s.ok()) Warn(s.message());
}

void AddReadOnlyFlag(CLI::App* c, bool* flag) {
  c->add_flag("--read-only", *flag, "Open without writing anything (read-only directory or medium; no lock taken)");
}

std::string ReadFileOrDie(const std::string& path, const std::string& flag) {
  return OrDie(ReadFileBytes(path, kMaxMapFileBytes), flag);
}

void Close(std::unique_ptr<Database>& db) { OrDie(db->Close(), "closing the database"); }

void Say(const std::string& s) {
  if (!Globals().quiet) std::fprintf(stderr, "%s\n", PrintableText(s).c_str());
}

std::string Txt(const std::string& s) { return PrintableText(s); }

}  // namespace relgeo::cli
