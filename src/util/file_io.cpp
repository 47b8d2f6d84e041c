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

Result<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return Status::InvalidArgument("the output path is empty");
  std::unique_ptr<AtomicFileWriter> w(new AtomicFileWriter());
  w->path_ = path;
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return Status::IOError("cannot write " + path + ": it is a directory");
  if (exists && !S_ISREG(st.st_mode)) {
    // A device or pipe: there is no file to replace, so it is written in place.
    w->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (w->fd_ < 0) return Status::IOError("cannot write " + path + ": " + ErrorText(errno));
    return w;
  }
  // A regular file or a new one. Through a symbolic link, the file it points to is replaced.
  w->target_ = path;
  std::error_code ec;
  if (exists && fs::is_symlink(path, ec)) {
    const fs::path real = fs::canonical(path, ec);
    if (!ec) w->target_ = real.string();
  }
  static std::atomic<uint64_t> counter{0};
  w->tmp_ = w->target_ + ".tmp-relgeo-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  w->fd_ = ::open(w->tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (w->fd_ < 0) {
    const int e = errno;
    w->tmp_.clear();  // not ours to remove
    return Status::IOError("cannot write " + path + ": " + ErrorText(e));
  }
  if (exists && ::fchmod(w->fd_, st.st_mode & 07777) != 0) w->error_ = errno;
  return w;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

Status AtomicFileWriter::Append(std::string_view bytes) {
  if (error_ == 0 && (fd_ < 0 || committed_)) error_ = EBADF;
  if (error_ == 0) error_ = WriteAll(fd_, {bytes});
  if (error_ != 0) return Status::IOError("cannot write " + path_ + ": " + ErrorText(error_));
  return Status::OK();
}

Status AtomicFileWriter::Commit() {
  if (error_ == 0 && (fd_ < 0 || committed_)) error_ = EBADF;
  if (error_ == 0 && !tmp_.empty() && ::fsync(fd_) != 0) error_ = errno;
  if (fd_ >= 0 && ::close(fd_) != 0 && error_ == 0) error_ = errno;
  fd_ = -1;
  if (error_ == 0 && !tmp_.empty() && ::rename(tmp_.c_str(), target_.c_str()) != 0) error_ = errno;
  if (error_ != 0) return Status::IOError("cannot write " + path_ + ": " + ErrorText(error_));
  committed_ = true;
  return Status::OK();
}

Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& parts) {
  RELGEO_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> w, AtomicFileWriter::Open(path));
  for (std::string_view part : parts) RELGEO_RETURN_IF_ERROR(w->Append(part));
  return w->Commit();
}

}  // namespace relgeo
