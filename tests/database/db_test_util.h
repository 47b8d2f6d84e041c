// Helpers shared by the database tests (tests/database) and the database CLI test:
// fresh directories, the standard cross-model setup (model B = model A composed with
// an invertible affine map), a snapshot of everything a database holds, and a way
// to run the relgeo tool built next to the test binary.
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures.h"
#include "relgeo/database.h"

namespace relgeo::testing {

namespace fs = std::filesystem;

inline std::string FreshDir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::string d = testing::TempDir() + "/db_" + name + "_" + std::to_string(counter++);
  fs::remove_all(d);
  return d;
}

// A 4 MiB tmpfs mounted on a fresh directory for the life of the object, for the
// disk-full tests. `error` says why it could not be mounted (it needs root or
// CAP_SYS_ADMIN); the test then skips.
struct ScopedTmpfs {
  std::string dir, error;
  explicit ScopedTmpfs(const std::string& name) : dir(FreshDir(name)) {
    std::filesystem::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=4m") != 0)
      error = "cannot mount a 4 MiB tmpfs at " + dir + " (" + std::strerror(errno) + "); needs root or CAP_SYS_ADMIN";
  }
  ~ScopedTmpfs() {
    if (error.empty()) ::umount2(dir.c_str(), MNT_DETACH);
  }
  ScopedTmpfs(const ScopedTmpfs&) = delete;
  ScopedTmpfs& operator=(const ScopedTmpfs&) = delete;
};

inline std::unique_ptr<Database> OpenOrDie(const std::string& dir, const DatabaseOptions& o = {}) {
  auto db = Database::Open(dir, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

#define ASSERT_OK(expr)                                      \
  do {                                                       \
    auto _s = (expr);                                        \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString();  \
  } while (0)

#define EXPECT_OK(expr)                                      \
  do {                                                       \
    auto _s = (expr);                                        \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString();  \
  } while (0)

inline std::vector<int64_t> Iota(int64_t n, int64_t from = 0) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = from + i;
  return v;
}

// The standard cross-model setup: model A = MLP f, model B = f o T^-1 whose latents
// are T z + t. Both attached to anchor set "S" (K anchors).
struct CrossSetup {
  int64_t d = 6, hidden = 24, m = 12, K = 16, n = 200;
  Matrix T;
  std::vector<float> t;
  Matrix anchors_a, anchors_b, za, zb;
  CrossSetup() {
    T = RandomInvertible(d, 7);
    t.assign(d, 0.f);
    for (int64_t i = 0; i < d; ++i) t[i] = 0.3f * static_cast<float>(i) - 0.5f;
    anchors_a = RandomMatrix(K, d, 11);
    za = RandomMatrix(n, d, 12);
    anchors_b = ApplyAffine(anchors_a, T, t);
    zb = ApplyAffine(za, T, t);
  }
  void Register(Database& db, const std::string& index = "Flat", const std::string& coll = "items") {
    ASSERT_OK(db.CreateAnchorSet("S", Iota(K)));
    ModelSpec a;
    a.name = "A";
    a.map_bytes = MlpMapBytes(d, hidden, m, 5);
    a.anchor_set = "S";
    a.anchor_latents = anchors_a;
    ASSERT_OK(db.RegisterModel(a));
    ModelSpec b;
    b.name = "B";
    b.map_bytes = MlpMapComposedBytes(d, hidden, m, 5, T, t);
    b.anchor_set = "S";
    b.anchor_latents = anchors_b;
    ASSERT_OK(db.RegisterModel(b));
    ASSERT_OK(db.CreateCollection(coll, Options(index)));
  }
  // The options of every collection these tests make: anchor set "S", N = 6 steps.
  static CollectionOptions Options(const std::string& index = "Flat") {
    CollectionOptions co;
    co.anchor_set = "S";
    co.index = index;
    co.steps = 6;
    return co;
  }
};

inline double Top1(const SearchResults& r, const std::vector<int64_t>& expect) {
  int64_t hit = 0;
  for (int64_t q = 0; q < r.queries; ++q) hit += r.row_ids(q)[0] == expect[q];
  return static_cast<double>(hit) / r.queries;
}

// A fingerprint of everything observable: models, anchor sets, collections with
// counts and mutation versions, and every item's bytes.
inline std::string Snapshot(Database& db) {
  std::ostringstream o;
  auto models = db.ListModels();
  auto sets = db.ListAnchorSets();
  auto colls = db.ListCollections();
  if (!models.ok() || !sets.ok() || !colls.ok()) return "listing failed";
  for (auto& m : *models) {
    o << "M " << m.name << " " << m.latent_dim << " " << m.output_dim << " " << m.map_bytes;
    for (auto& s : m.anchor_sets) o << " " << s;
    o << "\n";
  }
  for (auto& a : *sets) o << "A " << a.name << " " << a.sample_ids.size() << "\n";
  for (auto& c : *colls) {
    o << "C " << c.name << " " << c.items << " " << c.indexed << " " << c.version << "\n";
    for (int64_t id = -5; id < 300; ++id) {
      auto it = db.Get(c.name, id);
      if (!it.ok()) continue;
      o << id << ":" << it->model << ":" << it->payload;
      for (float v : it->representation) o << "," << v;
      o << "\n";
    }
  }
  return o.str();
}


// Runs the relgeo tool built next to this test binary (build/tools/relgeo); skipped
// when it was not built. Returns the exit code; stdout in *out, stderr in *err.
inline std::string ToolPath() {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return "";
  self[len] = 0;
  const fs::path tool = fs::path(self).parent_path().parent_path() / "tools" / "relgeo";
  return fs::exists(tool) ? tool.string() : "";
}

inline int RunTool(const std::string& args, std::string* out, std::string* err = nullptr) {
  const std::string o = testing::TempDir() + "/tool_out.txt", e = testing::TempDir() + "/tool_err.txt";
  const int rc = std::system((ToolPath() + " " + args + " >" + o + " 2>" + e).c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  if (out) *out = slurp(o);
  if (err) *err = slurp(e);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}


}  // namespace relgeo::testing
