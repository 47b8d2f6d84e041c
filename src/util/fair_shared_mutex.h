// Internal: a writer-preferring reader/writer lock (the database's one lock).
#pragma once

#include <mutex>
#include <shared_mutex>

namespace relgeo {

// Writer-preferring reader/writer lock: a writer waiting at the gate stops new
// readers, so a stream of searches cannot starve mutations (glibc's rwlock
// prefers readers).
class FairSharedMutex {
 public:
  void lock() {
    std::lock_guard<std::mutex> g(gate_);
    mu_.lock();
  }
  void unlock() { mu_.unlock(); }
  void lock_shared() {
    std::lock_guard<std::mutex> g(gate_);
    mu_.lock_shared();
  }
  void unlock_shared() { mu_.unlock_shared(); }

 private:
  std::mutex gate_;
  std::shared_mutex mu_;
};

}  // namespace relgeo
