// The database API (src/database): cross-model retrieval through stored metric
// maps and encoders, items (upsert, remove, get, payloads, filters), and bad input
// that must leave the database unchanged.
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

#include "database/db_test_util.h"
#include "relgeo/database.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;
namespace fs = std::filesystem;

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


// ------------------------------------------------------------------ bad input
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

// Numbers that size allocations are bounded where they enter: efSearch 1..100000
// (0 = the default 64), nprobe 0..nlist (0 = the default 16, at most nlist),
// anchor sets of at most 1,000,000 ids. Each limit is InvalidArgument and leaves
// the database unchanged.
TEST(Database, SearchParametersAndAnchorSetsAreBounded) {
  CrossSetup s;
  const std::string dir = FreshDir("bounds");
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  s.Register(*db, "HNSW16");
  ASSERT_OK(db->CreateCollection("ivf", {"S", "IVF4,Flat", 6}));
  ASSERT_OK(db->Add("items", "A", Iota(50), s.za.view().RowSlice(0, 50)));
  ASSERT_OK(db->Add("ivf", "A", Iota(50), s.za.view().RowSlice(0, 50)));
  const std::string snap = Snapshot(*db);
  const Matrix q = Matrix::CopyOf(s.zb.view().RowSlice(0, 2));
  auto search = [&](const std::string& coll, int ef, int nprobe) {
    SearchParams p;
    p.ef_search = ef;
    p.nprobe = nprobe;
    return db->Search(coll, "B", q, 3, p).status();
  };
  auto refused = [&](const Status& st, const std::string& needle) {
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message() << " lacks " << needle;
  };
  refused(search("items", -1, 0), "ef_search");
  refused(search("items", 100001, 0), "100000");
  refused(search("items", 2000000000, 0), "100000");
  refused(search("items", 0, -1), "nprobe");
  refused(search("ivf", 0, 5), "nlist");
  refused(db->SearchRepresentations("items", RandomMatrix(1, s.K, 3), 3, {-5, 0}).status(), "ef_search");
  EXPECT_OK(search("items", 0, 0));
  EXPECT_OK(search("items", 100000, 0));
  EXPECT_OK(search("ivf", 0, 4));
  EXPECT_OK(search("ivf", 64, 1));
  std::vector<int64_t> many(1000001);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int64_t>(i);
  refused(db->CreateAnchorSet("big", many), "1000000");
  many.pop_back();
  EXPECT_OK(db->CreateAnchorSet("big", many));
  ASSERT_OK(db->DropAnchorSet("big"));
  EXPECT_EQ(Snapshot(*db), snap);
}

// Names are echoed in messages with control characters escaped (a name with an
// escape sequence must not reach a terminal raw), and the message stays one line.
TEST(Database, NamesInMessagesAreEscaped) {
  const std::string dir = FreshDir("escape");
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  auto clean = [](const Status& st, const std::string& needle) {
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
    for (unsigned char c : st.message()) EXPECT_GE(c, 0x20) << "raw control byte in: " << st.message();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message() << " lacks " << needle;
  };
  clean(db->CreateAnchorSet("a\x1b[31mred\nline", {1, 2}), "a\\x1b[31mred\\nline");
  ASSERT_OK(db->CreateAnchorSet("S", {1, 2}));
  clean(db->CreateCollection("c\x07", {"S"}), "c\\x07");
  clean(db->CreateCollection("c", {"S", "Fl\x1b" "at"}), "Fl\\x1bat");
  clean(db->CreateCollection("c", {"S\x7f"}), "S\\x7f");
  clean(db->Search("c\t", "m", RandomMatrix(1, 2, 1), 1).status(), "c\\t");
}

// The index spec is stored (and listed) in its canonical spelling, whatever the
// caller typed: "flat" -> "Flat", "hnsw016,flat" -> "HNSW16", "ivf4,sq8" -> "IVF4,SQ8".
TEST(Database, IndexSpecsAreStoredInTheirCanonicalSpelling) {
  const std::string dir = FreshDir("canonical");
  const std::vector<std::pair<std::string, std::string>> specs = {
      {"flat", "Flat"}, {" FLAT ", "Flat"}, {"hnsw016,flat", "HNSW16"}, {"ivf4,sq8", "IVF4,SQ8"}, {"Ivf8", "IVF8,Flat"}};
  {
    auto db = OpenOrDie(dir);
    ASSERT_TRUE(db);
    ASSERT_OK(db->CreateAnchorSet("S", Iota(4)));
    for (size_t i = 0; i < specs.size(); ++i) {
      ASSERT_OK(db->CreateCollection("c" + std::to_string(i), {"S", specs[i].first}));
      EXPECT_EQ(db->GetCollectionInfo("c" + std::to_string(i))->options.index, specs[i].second);
    }
  }
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db);
  for (size_t i = 0; i < specs.size(); ++i) {
    auto info = db->GetCollectionInfo("c" + std::to_string(i));
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->options.index, specs[i].second) << specs[i].first;
    EXPECT_EQ(info->index_state, "loaded") << specs[i].first;
  }
}

// Replacing a model's anchor latents while a collection holds items it encoded with
// the old ones would mix two coordinate systems in one index: refused, naming the
// collections. The same latents again, another anchor set, or no items left: allowed.
TEST(Database, AttachAnchorsRefusesToReplaceLatentsInUse) {
  CrossSetup s;
  auto db = OpenOrDie(FreshDir("attach_in_use"));
  ASSERT_TRUE(db);
  s.Register(*db);
  CollectionOptions co;
  co.anchor_set = "S";
  ASSERT_OK(db->CreateCollection("other", co));
  ASSERT_OK(db->CreateCollection("empty", co));
  ASSERT_OK(db->Add("items", "A", Iota(20), s.za.view().RowSlice(0, 20)));
  ASSERT_OK(db->Add("other", "A", Iota(5), s.za.view().RowSlice(0, 5)));
  ASSERT_OK(db->Add("other", "B", Iota(5, 100), s.zb.view().RowSlice(0, 5)));
  auto before = db->Get("items", 3);
  ASSERT_TRUE(before.ok());
  const Matrix new_anchors = RandomMatrix(s.K, s.d, 99);
  Status st = db->AttachAnchors("A", "S", new_anchors);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("collections 'items', 'other' hold items encoded with them"), std::string::npos)
      << st.message();
  EXPECT_EQ(st.message().find("'empty'"), std::string::npos) << st.message();
  // Nothing changed: the stored anchors still encode to the stored representations
  // (to float rounding: one row here, 20 in the Add, and MKL's GEMM rounds by shape;
  // the refused anchors would move every entry by far more).
  auto again = db->Encode("A", "S", s.za.view().RowSlice(3, 1), {6});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(before->representation.size(), static_cast<size_t>(s.K));
  for (int64_t k = 0; k < s.K; ++k)
    EXPECT_NEAR(again->row(0)[k], before->representation[k], 1e-5 * std::abs(before->representation[k])) << k;
  // The very same latents: a no-op.
  EXPECT_OK(db->AttachAnchors("A", "S", s.anchors_a));
  // Another anchor set (no items over it): fine.
  ASSERT_OK(db->CreateAnchorSet("S2", Iota(s.K, 1000)));
  EXPECT_OK(db->AttachAnchors("A", "S2", new_anchors));
  EXPECT_OK(db->AttachAnchors("A", "S2", s.anchors_a));
  // Once no collection holds A's items, replacing is allowed.
  ASSERT_OK(db->DropCollection("items"));
  ASSERT_TRUE(db->Remove("other", Iota(5)).ok());
  EXPECT_OK(db->AttachAnchors("A", "S", new_anchors));
  // B's items in 'other' do not block A, but do block B.
  st = db->AttachAnchors("B", "S", new_anchors);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("collection 'other' holds items"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace relgeo
