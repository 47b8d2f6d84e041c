// Whole-file reads and writes as relgeo does them everywhere (metric maps, .npy,
// PNG and CSV output): reads take only regular files of bounded size, writes are
// all-or-nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relgeo/status.h"

namespace relgeo {

// The bytes of a regular file of at most `max_bytes`. A directory, device or pipe
// (/dev/zero, a FIFO) is InvalidArgument without reading a byte (nor blocking), a
// larger file InvalidArgument by its size, a missing file NotFound; the message
// names the file.
Result<std::string> ReadFileBytes(const std::string& path, int64_t max_bytes);

// Writes the concatenation of `parts` to `path`, checking every write, the fsync and
// the close. A regular file (or a new one) is written to a temporary file beside it,
// fsynced and renamed into place, so `path` holds either its old contents or all of
// the new ones, never a truncated file; the temporary is removed on failure; a new
// file gets mode 0666 less the umask, a replaced one keeps its mode. An existing
// device or pipe (/dev/stdout, /dev/null) is written in place. Failures are IOError
// naming `path` and saying why ("No space left on device").
Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& parts);

// The same all-or-nothing write for output produced a block at a time (streamed
// .npy output, src/util/npy_stream.cpp): Open, Append any number of times, Commit.
// Until Commit returns OK, `path` keeps its old contents; a writer destroyed
// without Commit (an error, an exception) removes its temporary file. Every write
// is checked; the first failure is returned by Append and by every later call.
class AtomicFileWriter {
 public:
  static Result<std::unique_ptr<AtomicFileWriter>> Open(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  Status Append(std::string_view bytes);
  // fsync, close and rename into place (a device: close).
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  AtomicFileWriter() = default;
  std::string path_, target_, tmp_;  // tmp_ empty: a device written in place
  int fd_ = -1;
  int error_ = 0;  // errno of the first failure
  bool committed_ = false;
};

}  // namespace relgeo
