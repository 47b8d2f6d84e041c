#include "npy_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "cli_common.h"

namespace relgeo::cli {

std::unique_ptr<NpyReader> OpenNpyOrDie(const std::string& path, const std::string& flag, NpyReader::Kind kind) {
  return OrDie(NpyReader::Open(path, kind), flag);
}

std::string FileIdentity(const std::string& path, const std::string& flag) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    throw CommandError{Status::IOError("cannot read " + path).WithContext(flag)};
  }
  constexpr size_t kHashed = 1 << 20;
  std::vector<char> buf(kHashed);
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t r = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < got; ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
  char text[96];
  std::snprintf(text, sizeof text, "%lld:%lld%09ld:%016llx", static_cast<long long>(st.st_size),
                static_cast<long long>(st.st_mtim.tv_sec), static_cast<long>(st.st_mtim.tv_nsec),
                static_cast<unsigned long long>(h));
  return text;
}

}  // namespace relgeo::cli
