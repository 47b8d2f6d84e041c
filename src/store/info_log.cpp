#include "store/info_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace relgeo::store {
namespace {

// Bounded: a LOG past this size is moved to LOG.old when the database opens.
constexpr off_t kMaxLogBytes = 4 << 20;

class InfoLog : public rocksdb::Logger {
 public:
  explicit InfoLog(int fd) : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), fd_(fd) {}
  ~InfoLog() override {
    if (fd_ >= 0) ::close(fd_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (fd_ < 0) return;
    char line[2048];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    size_t n = std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    va_list copy;
    va_copy(copy, ap);
    const int m = std::vsnprintf(line + n, sizeof line - n - 1, format, copy);
    va_end(copy);
    if (m < 0) return;
    n = std::min(sizeof line - 2, n + static_cast<size_t>(m));
    line[n++] = '\n';
    std::lock_guard<std::mutex> l(mu_);
    // Every write is checked; a failure (ENOSPC, EIO) is counted and dropped.
    for (size_t done = 0; done < n;) {
      const ssize_t w = ::write(fd_, line + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        failures_.fetch_add(1);
        return;
      }
      done += static_cast<size_t>(w);
    }
  }

 protected:
  rocksdb::Status CloseImpl() override { return rocksdb::Status::OK(); }

 private:
  int fd_;
  std::mutex mu_;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewInfoLog(const std::string& dir, bool read_only) {
  int fd = -1;
  if (!read_only) {
    const std::string path = dir + "/LOG";
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > kMaxLogBytes)
      (void)::rename(path.c_str(), (dir + "/LOG.old").c_str());
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
  }
  return std::make_shared<InfoLog>(fd);
}

}  // namespace relgeo::store
