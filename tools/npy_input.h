// Streamed .npy input of the tool's commands (relgeo index, encode): row blocks
// through relgeo::NpyReader, so memory is bounded by the batch size whatever the
// file's size (docs/cli.md "Memory"), and the identity of an input file for
// resumable indexing (docs/database.md "Resumable bulk index").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "relgeo/npy.h"

namespace relgeo::cli {

// Opens `path` for streaming or aborts the command with the error naming `flag`.
std::unique_ptr<NpyReader> OpenNpyOrDie(const std::string& path, const std::string& flag,
                                        NpyReader::Kind kind = NpyReader::Kind::kMatrix);

// What identifies an input file's contents without reading all of it: its size,
// its modification time (ns) and a 64-bit FNV-1a hash of its first 1 MiB (header
// and first rows), as "size:mtime:hash". Editing the file changes its mtime;
// a different file of the same size differs in mtime or its first block.
std::string FileIdentity(const std::string& path, const std::string& flag);

}  // namespace relgeo::cli
