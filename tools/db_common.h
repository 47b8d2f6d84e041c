// Database plumbing shared by the commands that open a database (cmd_db.cpp,
// cmd_ingest.cpp): opening for writing or for reading (read-only fallbacks),
// closing with or without a warning, and the informational output they print.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "relgeo/database.h"

namespace relgeo::cli {

// Opens `dir` for writing (creating it when `create`), or aborts the command.
std::unique_ptr<Database> OpenDb(const std::string& dir, bool create);
// Commands that only read. --read-only opens without writing anything (no LOCK, no
// index saves); a directory this process may not write, or a full disk, gets the
// same (docs/database.md#damaged-files-and-faults).
std::unique_ptr<Database> OpenDbToRead(const std::string& dir, bool read_only);
// After a read, or a write whose items are committed: an index that cannot be saved
// on close (disk full, a read-only directory, a directory in its place) does not undo
// what was answered or committed; it is a warning, and the index is rebuilt on the
// next open (docs/design.md §5.4).
void CloseOrWarn(std::unique_ptr<Database>& db);
// Closes, or aborts the command with the close's error.
void Close(std::unique_ptr<Database>& db);
void AddReadOnlyFlag(CLI::App* c, bool* flag);
// A TorchScript file the command stores: only a regular file of at most
// kMaxMapFileBytes is read (/dev/zero or a FIFO would be read, or waited on, for ever).
std::string ReadFileOrDie(const std::string& path, const std::string& flag);
// "relgeo: warning: ..." on stderr, always; Say: an informational line unless --quiet.
void Warn(const std::string& s);
void Say(const std::string& s);
// A name or path in text output (names read from a database are not trusted).
std::string Txt(const std::string& s);

}  // namespace relgeo::cli
