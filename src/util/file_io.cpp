// Whole-file reads and all-or-nothing writes (include/relgeo/file_io.h).
#include "relgeo/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>

namespace relgeo {
namespace {

std::string ErrorText(int e) { return std::error_code(e, std::generic_category()).message(); }

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  return "some other kind of file";
}

// Every byte of every part, retrying short writes and EINTR; errno on failure.
int WriteAll(int fd, const std::vector<std::string_view>& parts) {
  for (std::string_view part : parts) {
    const char* p = part.data();
    size_t left = part.size();
    while (left > 0) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (w == 0) return EIO;
      p += w;
      left -= static_cast<size_t>(w);
    }
  }
  return 0;
}

}  // namespace

Result<std::string> ReadFileBytes(const std::string& path, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) return Status::NotFound("cannot open " + path + ": " + ErrorText(e));
    return Status::IOError("cannot open " + path + ": " + ErrorText(e));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return Status::IOError("cannot read " + path + ": " + ErrorText(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + " is not a regular file (it is " + KindOf(st.st_mode) + ")");
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    return Status::InvalidArgument(path + " is " + std::to_string(st.st_size) + " bytes, more than the " +
                                   std::to_string(max_bytes) + " that are read");
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int e = errno;
      ::close(fd);
      return Status::IOError("cannot read " + path + ": " + ErrorText(e));
    }
    if (r == 0) break;  // shrank while being read
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& parts) {
  namespace fs = std::filesystem;
  if (path.empty()) return Status::InvalidArgument("the output path is empty");
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return Status::IOError("cannot write " + path + ": it is a directory");
  if (exists && !S_ISREG(st.st_mode)) {
    // A device or pipe: there is no file to replace, so it is written in place.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Status::IOError("cannot write " + path + ": " + ErrorText(errno));
    int e = WriteAll(fd, parts);
    if (::close(fd) != 0 && e == 0) e = errno;
    if (e != 0) return Status::IOError("cannot write " + path + ": " + ErrorText(e));
    return Status::OK();
  }
  // A regular file or a new one. Through a symbolic link, the file it points to is replaced.
  std::string target = path;
  std::error_code ec;
  if (exists && fs::is_symlink(path, ec)) {
    const fs::path real = fs::canonical(path, ec);
    if (!ec) target = real.string();
  }
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = target + ".tmp-relgeo-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return Status::IOError("cannot write " + path + ": " + ErrorText(errno));
  int e = 0;
  if (exists && ::fchmod(fd, st.st_mode & 07777) != 0) e = errno;
  if (e == 0) e = WriteAll(fd, parts);
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e == 0 && ::rename(tmp.c_str(), target.c_str()) != 0) e = errno;
  if (e != 0) {
    ::unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + ErrorText(e));
  }
  return Status::OK();
}

}  // namespace relgeo
