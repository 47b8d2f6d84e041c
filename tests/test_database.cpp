// Database tests: cross-model retrieval, persistence and index rebuilds, bad
// input leaving the database unchanged, index recall, concurrency, and crash
// safety (a child process killed with SIGKILL while bulk indexing).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "fixtures.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {

using testing::AffineMapBytes;
using testing::ApplyAffine;
using testing::MlpMapBytes;
using testing::MlpMapComposedBytes;
using testing::ModuleBytes;
using testing::RandomInvertible;
using testing::RandomMatrix;
namespace fs = std::filesystem;

std::string FreshDir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::string d = testing::TempDir() + "/db_" + name + "_" + std::to_string(counter++);
  fs::remove_all(d);
  return d;
}

std::unique_ptr<Database> OpenOrDie(const std::string& dir, const DatabaseOptions& o = {}) {
  auto db = Database::Open(dir, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

#define ASSERT_OK(expr)                                      \
  do {                                                       \
    auto _s = (expr);                                        \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString();  \
  } while (0)

std::vector<int64_t> Iota(int64_t n, int64_t from = 0) {
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
    CollectionOptions co;
    co.anchor_set = "S";
    co.index = index;
    co.steps = 6;
    ASSERT_OK(db.CreateCollection(coll, co));
  }
};

double Top1(const SearchResults& r, const std::vector<int64_t>& expect) {
  int64_t hit = 0;
  for (int64_t q = 0; q < r.queries; ++q) hit += r.row_ids(q)[0] == expect[q];
  return static_cast<double>(hit) / r.queries;
}

// ------------------------------------------------------------------ cross-model
TEST(Database, CrossModelAffineTop1IsExact) {
  CrossSetup s;
  const std::string dir = FreshDir("cross");
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  s.Register(*db);
  ASSERT_OK(db->Add("items", "A", Iota(s.n, 1000), s.za));
  auto r = db->Search("items", "B", s.zb, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Top1(*r, Iota(s.n, 1000)), 1.0);
  for (int64_t q = 0; q < s.n; ++q) EXPECT_NEAR(r->row_scores(q)[0], 1.0f, 1e-4f);
  // Representations agree across models: Encode with B equals what A stored.
  auto enc = db->Encode("B", "S", s.zb.view().RowSlice(0, 3), EncoderOptions{6});
  ASSERT_TRUE(enc.ok());
  for (int64_t i = 0; i < 3; ++i) {
    auto item = db->Get("items", 1000 + i);
    ASSERT_TRUE(item.ok());
    EXPECT_EQ(item->model, "A");
    for (int64_t k = 0; k < s.K; ++k) EXPECT_NEAR(item->representation[k], (*enc)(i, k), 1e-3f * (1 + std::fabs((*enc)(i, k))));
  }
  // Control: B's latents through A's own map (no T^-1) do NOT retrieve reliably,
  // so the exact top-1 above is the method's invariance, not an easy problem.
  ModelSpec wrong;
  wrong.name = "Bwrong";
  wrong.map_bytes = MlpMapBytes(s.d, s.hidden, s.m, 5);
  wrong.anchor_set = "S";
  wrong.anchor_latents = s.anchors_b;
  ASSERT_OK(db->RegisterModel(wrong));
  auto rw = db->Search("items", "Bwrong", s.zb, 5);
  ASSERT_TRUE(rw.ok());
  EXPECT_LT(Top1(*rw, Iota(s.n, 1000)), 0.9);
}

// Raw inputs through each model's stored encoder: E_A(x) = W x + b, E_B = T E_A + t.
TEST(Database, CrossModelFromRawInputsThroughStoredEncoders) {
  CrossSetup s;
  const int64_t D = 10;
  Matrix W = RandomMatrix(s.d, D, 31, 0.5f);
  std::vector<float> b(s.d, 0.1f);
  // E_B(x) = T (W x + b) + t = (T W) x + (T b + t).
  Matrix TWm(s.d, D);
  for (int64_t r = 0; r < s.d; ++r)
    for (int64_t c = 0; c < D; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < s.d; ++j) acc += double(s.T(r, j)) * W(j, c);
      TWm(r, c) = static_cast<float>(acc);
    }
  std::vector<float> tb(s.d);
  for (int64_t r = 0; r < s.d; ++r) {
    double acc = s.t[r];
    for (int64_t j = 0; j < s.d; ++j) acc += double(s.T(r, j)) * b[j];
    tb[r] = static_cast<float>(acc);
  }
  Matrix x = RandomMatrix(s.n, D, 41);
  Matrix xa = RandomMatrix(s.K, D, 42);  // the anchor samples
  auto db = OpenOrDie(FreshDir("raw"));
  ASSERT_TRUE(db);
  ASSERT_OK(db->CreateAnchorSet("S", Iota(s.K)));
  ModelSpec a;
  a.name = "A";
  a.map_bytes = MlpMapBytes(s.d, s.hidden, s.m, 5);
  a.encoder_bytes = AffineMapBytes(W, b);
  ModelSpec bm;
  bm.name = "B";
  bm.map_bytes = MlpMapComposedBytes(s.d, s.hidden, s.m, 5, s.T, s.t);
  bm.encoder_bytes = AffineMapBytes(TWm, tb);
  ASSERT_OK(db->RegisterModel(a));
  ASSERT_OK(db->RegisterModel(bm));
  ASSERT_OK(db->AttachAnchors("A", "S", *db->EncodeInputs("A", xa)));
  ASSERT_OK(db->AttachAnchors("B", "S", *db->EncodeInputs("B", xa)));
  ASSERT_OK(db->CreateCollection("items", {"S", "Flat", 6}));
  ASSERT_OK(db->Add("items", "A", Iota(s.n), *db->EncodeInputs("A", x)));
  auto r = db->SearchInputs("items", "B", x, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0);
  EXPECT_EQ(db->EncodeInputs("A", RandomMatrix(2, D + 1, 1)).status().code(), StatusCode::kInvalidArgument);
  ModelSpec none;
  none.name = "NoEnc";
  none.map_bytes = MlpMapBytes(s.d, 4, 3, 1);
  ASSERT_OK(db->RegisterModel(none));
  EXPECT_EQ(db->EncodeInputs("NoEnc", x).status().code(), StatusCode::kFailedPrecondition);
}

TEST(Database, CrossModelOnEveryIndexKind) {
  CrossSetup s;
  for (const std::string spec : {"HNSW16", "IVF4,Flat"}) {
    auto db = OpenOrDie(FreshDir("kinds"));
    ASSERT_TRUE(db);
    s.Register(*db, spec);
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
    auto info = db->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->indexed, s.n);
    if (spec[0] == 'I') EXPECT_TRUE(info->index_trained);  // 200 >= 39 * 4
    SearchParams p;
    p.ef_search = 64;
    p.nprobe = 4;
    auto r = db->Search("items", "B", s.zb, 3, p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0) << spec;
  }
}

// ------------------------------------------------------------------ items
TEST(Database, UpsertRemoveGetPayloadAndFilter) {
  for (const std::string spec : {"Flat", "HNSW8", "IVF2,Flat"}) {
    auto db = OpenOrDie(FreshDir("items"));
    ASSERT_TRUE(db);
    ASSERT_OK(db->CreateAnchorSet("S", Iota(8)));
    ModelSpec a;
    a.name = "A";
    a.map_bytes = AffineMapBytes(RandomMatrix(5, 4, 1), std::vector<float>(5, 0.f));
    a.anchor_set = "S";
    a.anchor_latents = RandomMatrix(8, 4, 2);
    ASSERT_OK(db->RegisterModel(a));
    ASSERT_OK(db->CreateCollection("c", {"S", spec}));
    Matrix reps = RandomMatrix(100, 8, 3);
    std::vector<std::string> payloads;
    for (int i = 0; i < 100; ++i) payloads.push_back("p" + std::to_string(i));
    std::vector<int64_t> ids = Iota(100, -50);
    ids[49] = 1000;  // -1 is reserved
    ASSERT_OK(db->AddRepresentations("c", "A", ids, reps, payloads));
    auto item = db->Get("c", -50);
    ASSERT_TRUE(item.ok());
    EXPECT_EQ(item->payload, "p0");
    EXPECT_EQ(item->representation[3], reps(0, 3));
    // Upsert id 0 (row 50) with row 7's vector: searching row 7 finds both ids.
    ASSERT_OK(db->AddRepresentations("c", "A", {0}, reps.view().RowSlice(7, 1), {"new"}));
    EXPECT_EQ(db->GetCollectionInfo("c")->items, 100);
    EXPECT_EQ(db->GetCollectionInfo("c")->indexed, 100);
    EXPECT_EQ(db->Get("c", 0)->payload, "new");
    auto r = db->SearchRepresentations("c", reps.view().RowSlice(7, 1), 2, {64, 2});
    ASSERT_TRUE(r.ok());
    std::set<int64_t> top2(r->ids.begin(), r->ids.end());
    EXPECT_EQ(top2, (std::set<int64_t>{-43, 0})) << spec;
    // Remove half; removed ids never come back; counts agree.
    std::vector<int64_t> gone(ids.begin(), ids.begin() + 50);
    gone.push_back(12345);  // absent: ignored
    auto removed = db->Remove("c", gone);
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(*removed, 50);
    EXPECT_EQ(db->GetCollectionInfo("c")->items, 50);
    EXPECT_EQ(db->GetCollectionInfo("c")->indexed, 50);
    EXPECT_EQ(db->Get("c", -1).status().code(), StatusCode::kNotFound);
    auto all = db->SearchRepresentations("c", reps, 60, {64, 2});
    ASSERT_TRUE(all.ok());
    for (int64_t q = 0; q < all->queries; ++q)
      for (int64_t j = 0; j < 60; ++j) EXPECT_TRUE(all->row_ids(q)[j] >= -1) << spec;
    // Filter: only even ids.
    SearchParams p{64, 2, [](int64_t id) { return id % 2 == 0; }};
    auto f = db->SearchRepresentations("c", reps.view().RowSlice(60, 5), 10, p);
    ASSERT_TRUE(f.ok());
    for (int64_t id : f->ids) EXPECT_TRUE(id >= 0 && id % 2 == 0) << spec << " id " << id;
  }
}

// ------------------------------------------------------------------ persistence
TEST(Database, IndexIsSavedLoadedAndRebuiltWhenMissingCorruptOrStale) {
  CrossSetup s;
  const std::string dir = FreshDir("persist");
  SearchResults before;
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    s.Register(*db, "HNSW16");
    ASSERT_OK(db->Add("items", "A", Iota(s.n), s.za));
    before = *db->Search("items", "B", s.zb, 5);
  }
  auto index_file = [&] {
    for (auto& e : fs::directory_iterator(dir + "/relgeo-index")) return e.path().string();
    return std::string();
  };
  auto reopen_state = [&](std::string* state) {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("items");
    ASSERT_TRUE(info.ok());
    *state = info->index_state;
    EXPECT_EQ(info->indexed, s.n);
    auto r = db->Search("items", "B", s.zb, 5);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Top1(*r, Iota(s.n)), 1.0);
  };
  std::string state;
  reopen_state(&state);
  EXPECT_EQ(state, "loaded");
  const std::string file = index_file();
  ASSERT_FALSE(file.empty());
  std::string saved;
  {
    std::ifstream in(file, std::ios::binary);
    saved.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Corrupt: flip a byte in the middle.
  {
    std::string bad = saved;
    bad[bad.size() / 2] ^= 0x5a;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bad;
  }
  reopen_state(&state);
  EXPECT_EQ(state.rfind("rebuilt (corrupt", 0), 0u) << state;
  // Truncated and garbage.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << saved.substr(0, 30);
  reopen_state(&state);
  EXPECT_EQ(state.rfind("rebuilt (corrupt", 0), 0u) << state;
  // Missing.
  fs::remove(file);
  reopen_state(&state);
  EXPECT_EQ(state, "rebuilt (missing)");
  // Stale: an older index file after a later mutation.
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    ASSERT_EQ(*db->Remove("items", {0}), 1);
  }
  std::ofstream(file, std::ios::binary | std::ios::trunc) << saved;
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("items");
    EXPECT_EQ(info->index_state.rfind("rebuilt (stale", 0), 0u) << info->index_state;
    EXPECT_EQ(info->items, s.n - 1);
    EXPECT_EQ(info->indexed, s.n - 1);
    auto r = db->Search("items", "B", s.zb.view().RowSlice(0, 1), 5);
    for (int64_t id : r->ids) EXPECT_NE(id, 0);
  }
}

// ------------------------------------------------------------------ bad input
// A fingerprint of everything observable: models, anchor sets, collections with
// counts and mutation versions, and every item's bytes.
std::string Snapshot(Database& db) {
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

TEST(Database, BadInputLeavesDatabaseUnchanged) {
  CrossSetup s;
  const std::string dir = FreshDir("bad");
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  s.Register(*db);
  ASSERT_OK(db->Add("items", "A", Iota(50), s.za.view().RowSlice(0, 50)));
  const std::string snap = Snapshot(*db);
  auto expect = [&](const Status& st, StatusCode code, const std::string& needle) {
    EXPECT_EQ(st.code(), code) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos) << "message: " << st.message() << " lacks: " << needle;
    EXPECT_EQ(Snapshot(*db), snap) << "after " << st.ToString();
  };
  Matrix nan_latents = Matrix::CopyOf(s.za.view().RowSlice(0, 4));
  nan_latents(2, 1) = std::nanf("");
  // Unknown names.
  expect(db->Add("nope", "A", Iota(2), s.za.view().RowSlice(0, 2)), StatusCode::kNotFound, "no collection named 'nope'");
  expect(db->Add("items", "Z", Iota(2), s.za.view().RowSlice(0, 2)), StatusCode::kNotFound, "no model named 'Z'");
  expect(db->Search("items", "Z", s.za, 3).status(), StatusCode::kNotFound, "no model named 'Z'");
  expect(db->CreateCollection("c2", {"nope"}), StatusCode::kNotFound, "no anchor set named 'nope'");
  expect(db->DropModel("Z"), StatusCode::kNotFound, "no model named 'Z'");
  expect(db->Remove("nope", {1}).status(), StatusCode::kNotFound, "no collection");
  {
    ModelSpec m;
    m.name = "C";
    m.map_bytes = AffineMapBytes(RandomMatrix(3, s.d, 1), {0, 0, 0});
    m.anchor_set = "nope";
    m.anchor_latents = s.anchors_a;
    expect(db->RegisterModel(m), StatusCode::kNotFound, "no anchor set named 'nope'");
    // Wrong anchor count and dimension.
    m.anchor_set = "S";
    m.anchor_latents = Matrix::CopyOf(s.anchors_a.view().RowSlice(0, s.K - 1));
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "anchor latents have 15 rows");
    m.anchor_latents = RandomMatrix(s.K, s.d + 1, 3);
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "columns");
    Matrix nan_anchors = s.anchors_a;
    nan_anchors(0, 0) = std::nanf("");
    m.anchor_latents = nan_anchors;
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "non-finite");
    // A blob that is not TorchScript; an invalid name.
    m.anchor_latents = s.anchors_a;
    m.map_bytes = "definitely not a zip archive";
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "fails to load");
    m.map_bytes = std::string("PK\x03\x04", 4) + std::string(100, '\0');
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "fails to load");
    m.name = "bad/name";
    expect(db->RegisterModel(m), StatusCode::kInvalidArgument, "may only use");
  }
  expect(db->AttachAnchors("A", "S", RandomMatrix(3, s.d, 1)), StatusCode::kInvalidArgument, "anchor latents have 3 rows");
  // Duplicate names.
  {
    ModelSpec m;
    m.name = "A";
    m.map_bytes = MlpMapBytes(s.d, 8, 4, 1);
    expect(db->RegisterModel(m), StatusCode::kAlreadyExists, "model 'A' already exists");
  }
  expect(db->CreateAnchorSet("S", Iota(3)), StatusCode::kAlreadyExists, "already exists");
  expect(db->CreateCollection("items", {"S"}), StatusCode::kAlreadyExists, "already exists");
  expect(db->CreateCollection("c3", {"S", "HNSWx"}), StatusCode::kInvalidArgument, "index spec");
  expect(db->CreateAnchorSet("T", {1, 2, 1}), StatusCode::kInvalidArgument, "duplicate");
  expect(db->DropAnchorSet("S"), StatusCode::kFailedPrecondition, "used by collection 'items'");
  // Bad latents and ids.
  expect(db->Add("items", "A", Iota(4, 500), nan_latents), StatusCode::kInvalidArgument, "non-finite");
  expect(db->Add("items", "A", Iota(2, 500), RandomMatrix(2, s.d + 2, 1)), StatusCode::kInvalidArgument, "columns");
  expect(db->Add("items", "A", {500, 500}, s.za.view().RowSlice(0, 2)), StatusCode::kInvalidArgument, "duplicate id 500");
  expect(db->Add("items", "A", Iota(3, 500), s.za.view().RowSlice(0, 2)), StatusCode::kInvalidArgument, "3 ids for 2 rows");
  expect(db->AddRepresentations("items", "A", Iota(2, 500), RandomMatrix(2, s.K + 1, 1)), StatusCode::kInvalidArgument,
         "columns");
  expect(db->Search("items", "B", nan_latents, 3).status(), StatusCode::kInvalidArgument, "non-finite");
  expect(db->Search("items", "B", s.zb, 0).status(), StatusCode::kInvalidArgument, "k must be positive");
  // A map that produces NaN (log of a negative number): the batch is refused whole.
  {
    ModelSpec m;
    m.name = "NanMap";
    m.map_bytes = ModuleBytes("  return torch.log(x)\n", s.d);
    m.anchor_set = "S";
    m.anchor_latents = RandomMatrix(s.K, s.d, 99, 0.1f);
    for (int64_t i = 0; i < m.anchor_latents.size(); ++i) m.anchor_latents.data()[i] = std::fabs(m.anchor_latents.data()[i]) + 1;
    ASSERT_OK(db->RegisterModel(m));
    const std::string snap2 = Snapshot(*db);
    Matrix lat = RandomMatrix(4, s.d, 5);  // has negative entries -> NaN
    Status st = db->Add("items", "NanMap", Iota(4, 600), lat);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_EQ(Snapshot(*db), snap2);
    ASSERT_OK(db->DropModel("NanMap"));
  }
  // BulkAdd with a NaN in batch 3: batches 1-2 commit whole, batch 3 not at all.
  {
    Matrix lat = RandomMatrix(50, s.d, 77);
    lat(45, 0) = std::nanf("");
    BulkOptions bo;
    bo.batch_size = 20;
    auto st = db->BulkAdd("items", "A", Iota(50, 200), lat, bo);
    EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.status().message().find("batch 3"), std::string::npos) << st.status().message();
    EXPECT_EQ(db->GetCollectionInfo("items")->items, 50 + 40);
    EXPECT_TRUE(db->Get("items", 239).ok());
    EXPECT_FALSE(db->Get("items", 240).ok());
  }
  // Opened twice, in this process: a clear error, the first handle keeps working.
  {
    auto second = Database::Open(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(second.status().message().find("already open"), std::string::npos) << second.status().message();
    EXPECT_TRUE(db->Search("items", "B", s.zb, 3).ok());
  }
  db.reset();
  // Not a database / corrupt database directory.
  {
    const std::string other = FreshDir("notdb");
    fs::create_directories(other);
    std::ofstream(other + "/hello.txt") << "hi";
    auto r = Database::Open(other);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find("not a relgeo database"), std::string::npos);
    EXPECT_TRUE(fs::exists(other + "/hello.txt"));
    EXPECT_FALSE(fs::exists(other + "/CURRENT"));
  }
  {
    const std::string copy = FreshDir("corrupt");
    fs::copy(dir, copy, fs::copy_options::recursive);
    std::ofstream(copy + "/CURRENT", std::ios::trunc) << "MANIFEST-999999\n";
    auto r = Database::Open(copy);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().code() == StatusCode::kCorruption || r.status().code() == StatusCode::kIOError)
        << r.status().ToString();
    // Every MANIFEST garbled.
    const std::string copy2 = FreshDir("corrupt2");
    fs::copy(dir, copy2, fs::copy_options::recursive);
    for (auto& e : fs::directory_iterator(copy2))
      if (e.path().filename().string().rfind("MANIFEST", 0) == 0) {
        std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(0);
        f << std::string(64, '\x7f');
      }
    auto r2 = Database::Open(copy2);
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.status().code(), StatusCode::kCorruption) << r2.status().ToString();
  }
  // The original reopens intact.
  auto again = OpenOrDie(dir);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->GetCollectionInfo("items")->items, 90);
}

// ------------------------------------------------------------------ recall
// Clustered data (like real embeddings): 10k items, 200 queries, K = 64.
TEST(Database, RecallOfHnswAndIvfAgainstFlat) {
  const int64_t n = 10000, nq = 200, K = 64, k = 10;
  std::mt19937_64 rng(3);
  Matrix centres = RandomMatrix(1000, K, 21);
  auto make = [&](int64_t rows, uint64_t seed) {
    Matrix x = RandomMatrix(rows, K, seed, 1.0f);
    std::uniform_int_distribution<int> pick(0, 999);
    std::mt19937_64 r(seed);
    for (int64_t i = 0; i < rows; ++i) {
      const int c = pick(r);
      for (int64_t j = 0; j < K; ++j) x(i, j) += centres(c, j);
    }
    return x;
  };
  Matrix items = make(n, 22), queries = make(nq, 23);
  auto db = OpenOrDie(FreshDir("recall"));
  ASSERT_TRUE(db);
  ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
  ModelSpec a;
  a.name = "A";
  a.map_bytes = AffineMapBytes(RandomMatrix(3, 2, 1), {0, 0, 0});
  ASSERT_OK(db->RegisterModel(a));
  for (const char* spec : {"Flat", "HNSW32", "IVF256,Flat"}) {
    ASSERT_OK(db->CreateCollection(spec[0] == 'F' ? "flat" : spec[0] == 'H' ? "hnsw" : "ivf", {"S", spec}));
  }
  for (const char* c : {"flat", "hnsw", "ivf"})
    for (int64_t b = 0; b < n; b += 2500)
      ASSERT_OK(db->AddRepresentations(c, "A", Iota(2500, b), items.view().RowSlice(b, 2500)));
  EXPECT_TRUE(db->GetCollectionInfo("ivf")->index_trained);
  auto truth = db->SearchRepresentations("flat", queries, k);
  ASSERT_TRUE(truth.ok());
  auto recall = [&](const std::string& c, SearchParams p) {
    auto r = db->SearchRepresentations(c, queries, k, p);
    EXPECT_TRUE(r.ok());
    int64_t hit = 0;
    for (int64_t q = 0; q < nq; ++q) {
      std::unordered_set<int64_t> t(truth->row_ids(q), truth->row_ids(q) + k);
      for (int64_t j = 0; j < k; ++j) hit += t.count(r->row_ids(q)[j]);
    }
    return static_cast<double>(hit) / (nq * k);
  };
  // Clustered data with 1000 centres in 64-d is hard for IVF256 (lists cut clusters).
  const double h16 = recall("hnsw", {16, 0}), h32 = recall("hnsw", {32, 0}), h64 = recall("hnsw", {64, 0}),
               h128 = recall("hnsw", {128, 0});
  const double i1 = recall("ivf", {0, 1}), i16 = recall("ivf", {0, 16}), i32 = recall("ivf", {0, 32}),
               i64 = recall("ivf", {0, 64}), i128 = recall("ivf", {0, 128});
  std::printf("recall@10 vs Flat (n=%lld, K=%lld, 1000 clusters): HNSW32 ef16 %.3f ef32 %.3f ef64 %.3f ef128 %.3f; "
              "IVF256 nprobe1 %.3f 16 %.3f 32 %.3f 64 %.3f 128 %.3f\n",
              static_cast<long long>(n), static_cast<long long>(K), h16, h32, h64, h128, i1, i16, i32, i64, i128);
  EXPECT_GE(h64, 0.95);
  EXPECT_GE(h128, h16);
  EXPECT_LT(h16, h128);  // efSearch is really applied per call
  EXPECT_GE(i128, 0.95);
  EXPECT_LT(i1, i16);  // nprobe is really applied per call
  // Deletes on HNSW (tombstones, then compaction past 25%): recall stays, removed ids never appear.
  ASSERT_EQ(*db->Remove("hnsw", Iota(3000)), 3000);
  ASSERT_EQ(*db->Remove("flat", Iota(3000)), 3000);
  truth = db->SearchRepresentations("flat", queries, k);
  EXPECT_GE(recall("hnsw", {64, 0}), 0.95);
  auto r = db->SearchRepresentations("hnsw", queries, k, {64, 0});
  for (int64_t id : r->ids) EXPECT_GE(id, 3000);
}

// ------------------------------------------------------------------ concurrency
// Readers search while one writer adds and removes batches. Each batch b holds
// kBatch ids that all share one representation v_b, so a reader querying v_b must
// see either the whole batch or none of it (no torn batch), and results must be
// well formed (sorted scores, unique ids).
TEST(Database, ConcurrentSearchesWhileOneWrites) {
  const int64_t K = 16, kBatch = 8, kBatches = 60;
  auto db = OpenOrDie(FreshDir("conc"));
  ASSERT_TRUE(db);
  ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
  ModelSpec a;
  a.name = "A";
  a.map_bytes = MlpMapBytes(4, 8, 6, 3);
  a.anchor_set = "S";
  a.anchor_latents = RandomMatrix(K, 4, 4);
  ASSERT_OK(db->RegisterModel(a));
  for (const char* spec : {"Flat", "HNSW16"}) {
    const std::string coll = spec[0] == 'F' ? "flat" : "hnsw";
    ASSERT_OK(db->CreateCollection(coll, {"S", spec}));
    Matrix v = RandomMatrix(kBatches, K, 5);
    for (int64_t i = 0; i < v.size(); ++i) v.data()[i] = std::fabs(v.data()[i]) + 0.05f;  // distinct directions
    std::atomic<bool> done{false};
    std::atomic<int64_t> searches{0}, failures{0};
    auto reader = [&](int seed) {
      std::mt19937 rng(seed);
      Matrix lat = RandomMatrix(2, 4, seed);
      while (!done.load()) {
        const int64_t b = rng() % kBatches;
        // Readers use different efSearch values, exercising the HNSW ef lock too.
        auto r = db->SearchRepresentations(coll, v.view().RowSlice(b, 1), kBatch, {16 + 24 * seed, 0});
        if (!r.ok()) { ++failures; continue; }
        int64_t in_batch = 0;
        std::set<int64_t> seen;
        for (int64_t j = 0; j < kBatch; ++j) {
          const int64_t id = r->ids[j];
          if (id >= 0 && !seen.insert(id).second) ++failures;
          if (j > 0 && r->scores[j] > r->scores[j - 1] + 1e-6f) ++failures;
          if (id >= b * kBatch && id < (b + 1) * kBatch) ++in_batch;
        }
        if (in_batch != 0 && in_batch != kBatch) ++failures;
        if (rng() % 4 == 0) {  // also encode queries through LibTorch in reader threads
          auto e = db->Search(coll, "A", lat, 3);
          if (!e.ok()) ++failures;
        }
        ++searches;
      }
    };
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) readers.emplace_back(reader, t + 1);
    std::mt19937 wrng(9);
    for (int64_t b = 0; b < kBatches; ++b) {
      Matrix rows(kBatch, K);
      for (int64_t i = 0; i < kBatch; ++i) std::copy(v.row(b), v.row(b) + K, rows.row(i));
      // Let the readers run between writes (bounded wait), so they really interleave.
      const int64_t seen = searches.load();
      for (int spin = 0; spin < 1000 && searches.load() < seen + 2; ++spin)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      ASSERT_OK(db->AddRepresentations(coll, "A", Iota(kBatch, b * kBatch), rows));
      if (b % 5 == 4) {  // remove an earlier batch whole
        const int64_t old = wrng() % b;
        ASSERT_TRUE(db->Remove(coll, Iota(kBatch, old * kBatch)).ok());
      }
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(failures.load(), 0) << spec;
    EXPECT_GT(searches.load(), 2 * kBatches) << spec;
  }
}

// ------------------------------------------------------------------ command line
// Runs the relgeo tool built next to this test binary (build/tools/relgeo); skipped
// when it was not built. Returns the exit code; stdout in *out, stderr in *err.
std::string ToolPath() {
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return "";
  self[len] = 0;
  const fs::path tool = fs::path(self).parent_path().parent_path() / "tools" / "relgeo";
  return fs::exists(tool) ? tool.string() : "";
}

int RunTool(const std::string& args, std::string* out, std::string* err = nullptr) {
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

TEST(DatabaseCli, RegisterIndexSearchJsonRemoveInfoAndErrors) {
  if (ToolPath().empty()) GTEST_SKIP() << "relgeo tool not built";
  CrossSetup s;
  const std::string t = testing::TempDir(), dir = FreshDir("cli");
  ASSERT_OK(WriteNpyMatrix(t + "/cli_aa.npy", s.anchors_a));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_ab.npy", s.anchors_b));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_za.npy", s.za));
  ASSERT_OK(WriteNpyMatrix(t + "/cli_zb.npy", s.zb.view().RowSlice(0, 5)));
  ASSERT_OK(WriteNpyInt64(t + "/cli_ids.npy", Iota(s.n, 100)));
  ASSERT_OK(WriteNpyInt64(t + "/cli_gone.npy", {100, 101}));
  const std::string a_map = testing::WriteTempFile("cli_a.pt", MlpMapBytes(s.d, s.hidden, s.m, 5));
  const std::string b_map = testing::WriteTempFile("cli_b.pt", MlpMapComposedBytes(s.d, s.hidden, s.m, 5, s.T, s.t));
  std::string out, err;
  const std::string db = " --db " + dir;
  ASSERT_EQ(RunTool("-q anchors create" + db + " --name S --count " + std::to_string(s.K), &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name A --map " + a_map + " --anchors S --anchor-latents " + t + "/cli_aa.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q model register" + db + " --name B --map " + b_map + " --anchors S --anchor-latents " + t + "/cli_ab.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q collection create" + db + " --name C --anchors S --index HNSW16 --steps 6", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("-q index" + db + " --collection C --model A --latents " + t + "/cli_za.npy --ids " + t + "/cli_ids.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("search" + db + " --collection C --model B --latents " + t + "/cli_zb.npy --k 3 --json", &out, &err), 0) << err;
  // {"results": [{"ids": [...], "scores": [...]}, ...]}: one entry per query row, best first.
  EXPECT_EQ(out.rfind("{\"results\":[{\"ids\":[100,", 0), 0u) << out;
  size_t entries = 0;
  for (size_t p = out.find("\"ids\":[1"); p != std::string::npos; p = out.find("\"ids\":[1", p + 1)) {
    EXPECT_EQ(out.compare(p + 7, 3, std::to_string(100 + entries)), 0) << out;
    ++entries;
  }
  EXPECT_EQ(entries, 5u);
  ASSERT_EQ(RunTool("-q remove" + db + " --collection C --ids " + t + "/cli_gone.npy", &out, &err), 0) << err;
  ASSERT_EQ(RunTool("info" + db + " --json", &out, &err), 0) << err;
  EXPECT_NE(out.find("\"items\": 198"), std::string::npos) << out;
  // Errors: unknown names exit 3, bad input 2, a directory held open 1 — one line each.
  EXPECT_EQ(RunTool("search" + db + " --collection X --model B --latents " + t + "/cli_zb.npy", &out, &err), 3);
  EXPECT_NE(err.find("no collection named 'X'"), std::string::npos) << err;
  EXPECT_EQ(RunTool("model register" + db + " --name Z --map " + a_map + " --anchors S --anchor-latents " + t + "/cli_za.npy", &out, &err), 2);
  EXPECT_NE(err.find("anchor latents have 200 rows"), std::string::npos) << err;
  EXPECT_EQ(RunTool("model register" + db + " --name Z --map " + t + "/cli_za.npy", &out, &err), 2);
  EXPECT_NE(err.find("fails to load"), std::string::npos) << err;
  {
    auto held = OpenOrDie(dir);
    ASSERT_TRUE(held);
    EXPECT_EQ(RunTool("info" + db, &out, &err), 1);
    EXPECT_NE(err.find("already open"), std::string::npos) << err;
  }
  EXPECT_EQ(RunTool("info" + db, &out, &err), 0) << err;
}

// ------------------------------------------------------------------ crash safety
// The child: opens the database, bulk-indexes batch after batch of deterministic
// latents, and after each committed batch writes "ACK <batches>\n" to stdout.
// It runs only when RELGEO_CRASH_CHILD names a database directory.
constexpr int64_t kCrashBatch = 32;
constexpr int64_t kCrashD = 4;

Matrix CrashBatchLatents(int64_t b) { return RandomMatrix(kCrashBatch, kCrashD, 1000 + b); }

TEST(DatabaseCrashChild, Run) {
  const char* dir = std::getenv("RELGEO_CRASH_CHILD");
  if (!dir) GTEST_SKIP() << "only runs as the crash test's child process";
  DatabaseOptions o;
  o.index_save_every = 5 * kCrashBatch;  // also get killed while saving indexes
  auto db = Database::Open(dir, o);
  if (!db.ok()) {
    std::fprintf(stderr, "child: %s\n", db.status().ToString().c_str());
    std::_Exit(3);
  }
  const int64_t start = (*db)->GetCollectionInfo("c")->items / kCrashBatch;
  int64_t b = start;
  BatchSource src = [&](int64_t, std::vector<int64_t>* ids, Matrix* lat) -> Result<int64_t> {
    if (b >= start + 400) return int64_t{0};
    *lat = CrashBatchLatents(b);
    *ids = Iota(kCrashBatch, b * kCrashBatch);
    ++b;
    return kCrashBatch;
  };
  BulkOptions bo;
  bo.batch_size = kCrashBatch;
  bo.progress = [&](const BulkProgress& p) {
    char line[64];
    const int len = std::snprintf(line, sizeof line, "ACK %lld\n", static_cast<long long>(start + p.batches));
    if (::write(1, line, len) != len) std::_Exit(4);
    return true;
  };
  auto st = (*db)->BulkAdd("c", "A", src, bo);
  std::_Exit(st.ok() ? 0 : 5);
}

TEST(Database, CrashSafetyUnderSigkill) {
  const int trials = std::getenv("RELGEO_CRASH_TRIALS") ? std::atoi(std::getenv("RELGEO_CRASH_TRIALS")) : 24;
  const int64_t K = 8;
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(len, 0);
  self[len] = 0;
  std::mt19937_64 rng(2024);
  const char* specs[] = {"Flat", "HNSW8", "IVF4,Flat"};
  int killed_mid_run = 0, trials_with_acks = 0, committed_not_acked = 0;
  std::map<std::string, int> index_states;
  for (int trial = 0; trial < trials; ++trial) {
    const std::string dir = FreshDir("crash");
    const std::string spec = specs[trial % 3];
    {
      auto db = OpenOrDie(dir);
      ASSERT_TRUE(db);
      ASSERT_OK(db->CreateAnchorSet("S", Iota(K)));
      ModelSpec a;
      a.name = "A";
      a.map_bytes = MlpMapBytes(kCrashD, 8, 6, 3);
      a.anchor_set = "S";
      a.anchor_latents = RandomMatrix(K, kCrashD, 4);
      ASSERT_OK(db->RegisterModel(a));
      ASSERT_OK(db->CreateCollection("c", {"S", spec, 4}));
    }
    int64_t acked = 0;
    // Two child runs per trial: the second resumes on what the first left.
    for (int run = 0; run < 2; ++run) {
      int fds[2];
      ASSERT_EQ(::pipe(fds), 0);
      // Environment prepared before fork: only async-signal-safe calls in the child.
      const std::string env_var = "RELGEO_CRASH_CHILD=" + dir;
      std::vector<char*> envp;
      for (char** e = environ; *e; ++e) envp.push_back(*e);
      envp.push_back(const_cast<char*>(env_var.c_str()));
      envp.push_back(nullptr);
      char filter[] = "--gtest_filter=DatabaseCrashChild.Run";
      char* argv[] = {self, filter, nullptr};
      pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::dup2(fds[1], 1);
        ::close(fds[0]);
        ::close(fds[1]);
        ::execve(self, argv, envp.data());
        std::_Exit(127);
      }
      ::close(fds[1]);
      // Wait for the first ACK (or none: some kills land during start-up), then a random delay.
      const int mode = static_cast<int>(rng() % 4);
      std::string buf;
      auto read_some = [&](int timeout_ms) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
        char tmp[4096];
        while (std::chrono::steady_clock::now() < until) {
          ssize_t r = ::read(fds[0], tmp, sizeof tmp);
          if (r > 0) buf.append(tmp, r);
          else if (r == 0) break;
          else std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (mode != 0 && buf.find("ACK") != std::string::npos && timeout_ms > 5000) break;
        }
      };
      if (mode == 0) {
        read_some(static_cast<int>(rng() % 400));  // maybe before the first batch
      } else {
        read_some(20000);                           // until the first ACK
        read_some(static_cast<int>(rng() % 250));   // then somewhere in the run
      }
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      ::fcntl(fds[0], F_SETFL, 0);
      char tmp[4096];
      ssize_t r;
      while ((r = ::read(fds[0], tmp, sizeof tmp)) > 0) buf.append(tmp, r);
      ::close(fds[0]);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++killed_mid_run;
      std::istringstream lines(buf);
      std::string line;
      while (std::getline(lines, line))  // gtest's own output is mixed in; only whole ACK lines count
        if (line.rfind("ACK ", 0) == 0 && lines.good()) acked = std::max<int64_t>(acked, std::stoll(line.substr(4)));
    }
    // Reopen: every acknowledged batch is there, no half batch, index == RocksDB.
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    auto info = db->GetCollectionInfo("c");
    ASSERT_TRUE(info.ok());
    const int64_t items = info->items;
    if (acked > 0) ++trials_with_acks;
    if (items > acked * kCrashBatch) ++committed_not_acked;
    ++index_states[info->index_state.substr(0, info->index_state.find(':'))];
    EXPECT_EQ(items % kCrashBatch, 0) << "half a batch stored, trial " << trial;
    EXPECT_GE(items, acked * kCrashBatch) << "acknowledged batch lost, trial " << trial;
    EXPECT_EQ(info->indexed, items) << "index disagrees with RocksDB, trial " << trial;
    const int64_t batches = items / kCrashBatch;
    for (int64_t id = 0; id < batches * kCrashBatch + kCrashBatch; ++id) {
      const bool present = db->Get("c", id).ok();
      EXPECT_EQ(present, id < items) << "id " << id << " trial " << trial;
      if (!present) break;
    }
    if (batches > 0) {
      // Spot-check content: the last batch's stored representations are its latents' encoding,
      // and searching them finds them (the index holds exactly these items).
      const int64_t last = batches - 1;
      auto enc = db->Encode("A", "S", CrashBatchLatents(last), EncoderOptions{4});
      ASSERT_TRUE(enc.ok());
      auto item = db->Get("c", last * kCrashBatch + 3);
      ASSERT_TRUE(item.ok());
      for (int64_t k = 0; k < K; ++k) EXPECT_NEAR(item->representation[k], (*enc)(3, k), 1e-4f);
      auto res = db->SearchRepresentations("c", *enc, 1, {64, 4});
      ASSERT_TRUE(res.ok());
      for (int64_t q = 0; q < kCrashBatch; ++q) {
        EXPECT_GE(res->ids[q], 0);
        EXPECT_LT(res->ids[q], items);
        EXPECT_NEAR(res->scores[q], 1.0f, 1e-4f);
      }
    }
  }
  std::printf("crash test: %d trials, %d child runs ended by SIGKILL, %d trials with acknowledged batches, "
              "%d with a committed batch not yet acknowledged; index on reopen:",
              trials, killed_mid_run, trials_with_acks, committed_not_acked);
  for (const auto& [state, count] : index_states) std::printf(" %s x%d", state.c_str(), count);
  std::printf("\n");
  EXPECT_GE(trials_with_acks, trials / 2);
  EXPECT_GE(killed_mid_run, trials);
}

}  // namespace
}  // namespace relgeo
