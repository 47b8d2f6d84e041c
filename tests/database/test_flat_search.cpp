// The Flat index's own search kernel (indexes/flat_kernel.*) against FAISS's
// brute-force IndexFlatIP on the same unit vectors: same ids and scores up to ties,
// for one query and many, k > n, filters, removed ids, an empty index, and after a
// round trip through the (unchanged) FAISS file format.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <typeinfo>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "fixtures.h"
#include "flat_kernel.h"
#include "relgeo/index.h"

namespace relgeo {
namespace {
using relgeo::testing::RandomMatrix;

Matrix Unit(MatrixView m) {
  Matrix out = Matrix::CopyOf(m);
  for (int64_t r = 0; r < m.rows(); ++r) {
    double s = 0;
    for (int64_t c = 0; c < m.cols(); ++c) s += double(out(r, c)) * out(r, c);
    for (int64_t c = 0; c < m.cols(); ++c) out(r, c) = static_cast<float>(out(r, c) / std::sqrt(s));
  }
  return out;
}

struct Hits {
  std::vector<int64_t> ids;
  std::vector<float> scores;
};

// FAISS brute force over the rows of `x` whose id passes `keep`.
Hits Reference(const Matrix& x, const std::vector<int64_t>& ids, const Matrix& q, int64_t k,
               const std::function<bool(int64_t)>& keep = {}) {
  const Matrix ux = Unit(x), uq = Unit(q);
  faiss::IndexFlatIP flat(static_cast<int>(x.cols()));
  std::vector<int64_t> kept;
  for (int64_t r = 0; r < x.rows(); ++r)
    if (!keep || keep(ids[r])) {
      flat.add(1, ux.row(r));
      kept.push_back(ids[r]);
    }
  Hits h{std::vector<int64_t>(q.rows() * k), std::vector<float>(q.rows() * k)};
  flat.search(q.rows(), uq.data(), k, h.scores.data(), h.ids.data());
  for (auto& id : h.ids)
    if (id >= 0) id = kept[id];
  return h;
}

Hits SearchAll(const VectorIndex& index, const Matrix& q, int64_t k, const IdFilter* filter = nullptr) {
  Hits h{std::vector<int64_t>(q.rows() * k), std::vector<float>(q.rows() * k)};
  const Status s = index.Search(q, k, {}, filter, h.ids.data(), h.scores.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return h;
}

// Same results up to ties: scores agree rank by rank, each returned id really has
// its score, no id twice, and where FAISS's score at a rank is clear of its
// neighbours by more than rounding, the same id.
void ExpectSame(const Hits& got, const Hits& want, const Matrix& x, const std::vector<int64_t>& ids, const Matrix& q,
                int64_t k) {
  const Matrix ux = Unit(x), uq = Unit(q);
  std::map<int64_t, int64_t> row_of;
  for (size_t r = 0; r < ids.size(); ++r) row_of[ids[r]] = static_cast<int64_t>(r);
  constexpr float kTol = 2e-5f;
  for (int64_t i = 0; i < q.rows(); ++i) {
    std::set<int64_t> seen;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t g = got.ids[i * k + j], w = want.ids[i * k + j];
      ASSERT_EQ(g < 0, w < 0) << "query " << i << " rank " << j;
      if (g < 0) {
        EXPECT_EQ(got.scores[i * k + j], -std::numeric_limits<float>::infinity());
        continue;
      }
      EXPECT_NEAR(got.scores[i * k + j], want.scores[i * k + j], kTol) << "query " << i << " rank " << j;
      ASSERT_TRUE(seen.insert(g).second) << "id " << g << " twice";
      ASSERT_TRUE(row_of.count(g)) << "unknown id " << g;
      double dot = 0;
      for (int64_t c = 0; c < x.cols(); ++c) dot += double(ux(row_of[g], c)) * uq(i, c);
      EXPECT_NEAR(got.scores[i * k + j], dot, kTol);
      const float s = want.scores[i * k + j];
      const bool clear = (j == 0 || want.scores[i * k + j - 1] - s > 4 * kTol) &&
                         (j + 1 == k || want.ids[i * k + j + 1] < 0 || s - want.scores[i * k + j + 1] > 4 * kTol);
      if (clear) EXPECT_EQ(g, w) << "query " << i << " rank " << j;
    }
  }
}

std::vector<int64_t> Ids(int64_t n, int64_t stride = 3, int64_t offset = 5) {
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = offset + stride * i;  // not positions
  return ids;
}

std::unique_ptr<VectorIndex> FlatOf(const Matrix& x, const std::vector<int64_t>& ids) {
  auto spec = IndexSpec::Parse("Flat");
  auto index = VectorIndex::Create(*spec, x.cols());
  EXPECT_TRUE(index.ok());
  if (x.rows() > 0) EXPECT_TRUE((*index)->Add(ids.data(), x).ok());
  return std::move(*index);
}

TEST(FlatSearch, KernelIsUsed) { EXPECT_TRUE(internal::FlatKernelAvailable()) << "oneDNN not loaded: FAISS fallback"; }

// Several database blocks (FlatBlockRows(256) = 1024 rows) and query tiles.
TEST(FlatSearch, SameAsFaissForOneQueryAndMany) {
  const int64_t n = 5000, d = 256, k = 10;
  const Matrix x = RandomMatrix(n, d, 1);
  const auto ids = Ids(n);
  auto index = FlatOf(x, ids);
  for (int64_t nq : {1, 3, 64, 300}) {
    const Matrix q = RandomMatrix(nq, d, 100 + nq);
    ExpectSame(SearchAll(*index, q, k), Reference(x, ids, q, k), x, ids, q, k);
  }
}

// More queries than one pass holds (4096), over a one-block database (tasks are
// then (block, query tile) pairs), and a dimension that is not a multiple of 16.
TEST(FlatSearch, ManyQueriesSmallDatabase) {
  const int64_t n = 300, d = 37, k = 5, nq = 4500;
  const Matrix x = RandomMatrix(n, d, 2), q = RandomMatrix(nq, d, 3);
  const auto ids = Ids(n);
  auto index = FlatOf(x, ids);
  ExpectSame(SearchAll(*index, q, k), Reference(x, ids, q, k), x, ids, q, k);
}

TEST(FlatSearch, KLargerThanTheIndex) {
  const int64_t n = 7, d = 16, k = 10;
  const Matrix x = RandomMatrix(n, d, 4), q = RandomMatrix(3, d, 5);
  const auto ids = Ids(n);
  auto index = FlatOf(x, ids);
  const Hits h = SearchAll(*index, q, k);
  ExpectSame(h, Reference(x, ids, q, k), x, ids, q, k);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_GE(h.ids[i * k + n - 1], 0);
    EXPECT_EQ(h.ids[i * k + n], -1);
  }
}

TEST(FlatSearch, EmptyIndex) {
  const Matrix x(0, 8), q = RandomMatrix(2, 8, 6);
  auto index = FlatOf(x, {});
  const Hits h = SearchAll(*index, q, 4);
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(h.ids[i], -1);
    EXPECT_EQ(h.scores[i], -std::numeric_limits<float>::infinity());
  }
}

TEST(FlatSearch, FilterKeepsOnlyWhatItAccepts) {
  const int64_t n = 3000, d = 64, k = 10;
  const Matrix x = RandomMatrix(n, d, 7), q = RandomMatrix(20, d, 8);
  const auto ids = Ids(n, 1, 0);
  auto index = FlatOf(x, ids);
  // A rare filter (1 in 97) and a common one: the rare one fills few heaps.
  for (int64_t mod : {2, 97}) {
    const IdFilter keep = [mod](int64_t id) { return id % mod == 0; };
    const Hits h = SearchAll(*index, q, k, &keep);
    for (int64_t id : h.ids)
      if (id >= 0) EXPECT_EQ(id % mod, 0);
    ExpectSame(h, Reference(x, ids, q, k, keep), x, ids, q, k);
  }
  // A filter that keeps fewer than k: the rest is -1.
  const IdFilter three = [](int64_t id) { return id == 4 || id == 40 || id == 400; };
  const Hits h = SearchAll(*index, q, k, &three);
  ExpectSame(h, Reference(x, ids, q, k, three), x, ids, q, k);
  EXPECT_EQ(h.ids[3], -1);
}

// A filter that throws is an error from Search, not a crash inside the thread pool.
TEST(FlatSearch, ThrowingFilterIsAnError) {
  const Matrix x = RandomMatrix(3000, 32, 21), q = RandomMatrix(8, 32, 22);
  auto index = FlatOf(x, Ids(3000));
  const IdFilter boom = [](int64_t id) -> bool {
    if (id % 7 == 0) throw std::runtime_error("filter failed");
    return true;
  };
  std::vector<int64_t> ids(8 * 5);
  std::vector<float> scores(8 * 5);
  const Status s = index->Search(q, 5, {}, &boom, ids.data(), scores.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("filter failed"), std::string::npos) << s.ToString();
}

TEST(FlatSearch, RemovedIdsAreNeverReturned) {
  const int64_t n = 2500, d = 32, k = 10;
  const Matrix x = RandomMatrix(n, d, 9), q = RandomMatrix(50, d, 10);
  const auto ids = Ids(n);
  auto index = FlatOf(x, ids);
  std::vector<int64_t> gone;
  for (int64_t i = 0; i < n; i += 2) gone.push_back(ids[i]);
  auto removed = index->Remove(gone.data(), static_cast<int64_t>(gone.size()));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, static_cast<int64_t>(gone.size()));
  const std::set<int64_t> gone_set(gone.begin(), gone.end());
  const IdFilter live = [&](int64_t id) { return !gone_set.count(id); };
  const Hits h = SearchAll(*index, q, k);
  for (int64_t id : h.ids) EXPECT_FALSE(gone_set.count(id)) << id;
  ExpectSame(h, Reference(x, ids, q, k, live), x, ids, q, k);
}

// Tied scores (duplicated rows): every returned id has the tied score, none twice.
TEST(FlatSearch, TiesAreResolvedWithoutDuplicates) {
  const int64_t d = 16, k = 4;
  Matrix x = RandomMatrix(40, d, 11);
  for (int64_t r = 20; r < 40; ++r)
    for (int64_t c = 0; c < d; ++c) x(r, c) = x(r - 20, c);
  const auto ids = Ids(40);
  auto index = FlatOf(x, ids);
  const Matrix q = Matrix::CopyOf(x.view().RowSlice(3, 1));
  const Hits h = SearchAll(*index, q, k);
  EXPECT_TRUE((h.ids[0] == ids[3] && h.ids[1] == ids[23]) || (h.ids[0] == ids[23] && h.ids[1] == ids[3]));
  EXPECT_NEAR(h.scores[0], 1.0f, 1e-5);
  EXPECT_NEAR(h.scores[1], 1.0f, 1e-5);
  ExpectSame(h, Reference(x, ids, q, k), x, ids, q, k);
}

// The file format stays FAISS's: a reloaded index answers the same.
TEST(FlatSearch, SameAfterSerializeRoundTrip) {
  const int64_t n = 1500, d = 48, k = 7;
  const Matrix x = RandomMatrix(n, d, 12), q = RandomMatrix(9, d, 13);
  const auto ids = Ids(n);
  auto index = FlatOf(x, ids);
  auto bytes = index->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto back = VectorIndex::Deserialize(*bytes, d, n);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const Hits a = SearchAll(*index, q, k), b = SearchAll(**back, q, k);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.scores, b.scores);
}

// ------------------------------------------------------------ compressed Flat
double RecallAt(const Hits& got, const Hits& exact, int64_t nq, int64_t k) {
  int64_t hit = 0;
  for (int64_t i = 0; i < nq; ++i) {
    const std::set<int64_t> want(exact.ids.begin() + i * k, exact.ids.begin() + (i + 1) * k);
    for (int64_t j = 0; j < k; ++j) hit += want.count(got.ids[i * k + j]);
  }
  return double(hit) / double(nq * k);
}

std::unique_ptr<VectorIndex> Make(const std::string& text, const Matrix& x, const std::vector<int64_t>& ids) {
  auto spec = IndexSpec::Parse(text);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  auto index = VectorIndex::Create(*spec, x.cols());
  EXPECT_TRUE(index.ok());
  EXPECT_TRUE((*index)->Add(ids.data(), x).ok());
  return std::move(*index);
}

TEST(FlatSearch, CompressedSpecsParseAndPrint) {
  EXPECT_EQ(IndexSpec::Parse("flat, sq8")->ToString(), "Flat,SQ8");
  EXPECT_EQ(IndexSpec::Parse("Flat,FP16")->ToString(), "Flat,fp16");
  EXPECT_EQ(IndexSpec::Parse("Flat")->ToString(), "Flat");
  EXPECT_EQ(IndexSpec::Parse("Flat,SQ8")->TrainThreshold(), 1000);
  EXPECT_FALSE(IndexSpec::Parse("Flat,PQ8").ok());
  EXPECT_FALSE(IndexSpec::Parse("Flat,SQ4").ok());
}

// Half precision and 8-bit codes: recall@10 against exact float32 search, scores
// close to the exact inner products of the returned ids, removal, filters, and the
// round trip through the FAISS file format.
TEST(FlatSearch, CompressedFlatRecallAndRoundTrip) {
  const int64_t n = 4000, d = 64, k = 10, nq = 100;
  const Matrix x = RandomMatrix(n, d, 14), q = RandomMatrix(nq, d, 15);
  const auto ids = Ids(n);
  const Hits exact = SearchAll(*FlatOf(x, ids), q, k);
  const Matrix ux = Unit(x), uq = Unit(q);
  for (const auto& [text, min_recall, tol] :
       {std::tuple<std::string, double, float>{"Flat,fp16", 0.98, 1e-3f}, {"Flat,SQ8", 0.85, 2e-2f}}) {
    auto index = Make(text, x, ids);
    EXPECT_TRUE(index->trained()) << text;
    const Hits h = SearchAll(*index, q, k);
    EXPECT_GE(RecallAt(h, exact, nq, k), min_recall) << text;
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const int64_t row = (h.ids[i * k + j] - 5) / 3;
        ASSERT_TRUE(row >= 0 && row < n) << text;
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += double(ux(row, c)) * uq(i, c);
        EXPECT_NEAR(h.scores[i * k + j], dot, tol) << text;
        if (j > 0) EXPECT_GE(h.scores[i * k + j - 1], h.scores[i * k + j]);
      }
    auto bytes = index->Serialize();
    ASSERT_TRUE(bytes.ok()) << text;
    auto back = VectorIndex::Deserialize(*bytes, d, n);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status().ToString();
    EXPECT_EQ((*back)->spec().ToString(), text);
    const Hits b = SearchAll(**back, q, k);
    EXPECT_EQ(b.ids, h.ids) << text;
    EXPECT_EQ(b.scores, h.scores) << text;
    // A float32 Flat body under this spec's header is refused, not misread.
    auto plain = FlatOf(x, ids)->Serialize();
    ASSERT_TRUE(plain.ok());
    const uint64_t len = text.size();
    const std::string relabelled = plain->substr(0, 8) + std::string(reinterpret_cast<const char*>(&len), 8) + text +
                                   plain->substr(8 + 8 + 4);  // after "Flat"
    auto wrong = VectorIndex::Deserialize(relabelled, d, n);
    if (text == "Flat,fp16") EXPECT_FALSE(wrong.ok());
    else EXPECT_TRUE(wrong.ok() && !(*wrong)->trained());  // SQ8 before training holds float32 rows
    // Removal and filters on the compressed rows.
    std::vector<int64_t> gone(ids.begin(), ids.begin() + n / 2);
    ASSERT_TRUE(index->Remove(gone.data(), n / 2).ok());
    const IdFilter odd = [](int64_t id) { return id % 2 == 1; };
    const Hits f = SearchAll(*index, q, k, &odd);
    for (int64_t id : f.ids) {
      ASSERT_GE(id, ids[n / 2]) << text;
      EXPECT_EQ(id % 2, 1) << text;
    }
  }
}

// Flat,SQ8 searches float32 rows exactly until it has its ranges (TrainThreshold).
TEST(FlatSearch, Sq8IsExactUntilTrained) {
  const int64_t n = 600, d = 32, k = 5;
  const Matrix x = RandomMatrix(n, d, 16), q = RandomMatrix(10, d, 17);
  const auto ids = Ids(n);
  auto index = Make("Flat,SQ8", x, ids);
  EXPECT_FALSE(index->trained());
  ExpectSame(SearchAll(*index, q, k), Reference(x, ids, q, k), x, ids, q, k);
  auto bytes = index->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto back = VectorIndex::Deserialize(*bytes, d, n);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_FALSE((*back)->trained());
  const Matrix more = RandomMatrix(500, d, 18);
  const auto more_ids = Ids(500, 3, 100000);
  ASSERT_TRUE((*back)->Add(more_ids.data(), more).ok());
  EXPECT_TRUE((*back)->trained());
  EXPECT_EQ((*back)->size(), 1100);
}

// ------------------------------------------------------------ HNSW on relgeo's distance
// relgeo's HNSW builds and walks FAISS's graph with its own inner product; the file
// still holds a plain IndexHNSWFlat over an IndexFlatIP, and FAISS's own search of
// that file finds what relgeo's does.
TEST(FlatSearch, HnswFileIsPlainFaissAndSearchesAlike) {
  const int64_t n = 3000, d = 48, k = 10, nq = 50;
  const Matrix x = RandomMatrix(n, d, 19), q = RandomMatrix(nq, d, 20);
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = i;  // positions == ids: FAISS's labels compare directly
  auto index = Make("HNSW16", x, ids);
  IndexSearchParams p;
  p.ef_search = 64;
  Hits mine{std::vector<int64_t>(nq * k), std::vector<float>(nq * k)};
  ASSERT_TRUE(index->Search(q, k, p, nullptr, mine.ids.data(), mine.scores.data()).ok());
  auto bytes = index->Serialize();
  ASSERT_TRUE(bytes.ok());
  // relgeo header: magic, u64 length + spec text, then u64 length + the FAISS blob.
  uint64_t spec_len = 0, blob_len = 0;
  std::memcpy(&spec_len, bytes->data() + 8, 8);
  std::memcpy(&blob_len, bytes->data() + 16 + spec_len, 8);
  faiss::VectorIOReader r;
  r.data.assign(bytes->begin() + 24 + spec_len, bytes->begin() + 24 + spec_len + blob_len);
  std::unique_ptr<faiss::Index> raw(faiss::read_index(&r));
  auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(raw.get());
  ASSERT_NE(hnsw, nullptr);
  ASSERT_NE(hnsw->storage, nullptr);
  EXPECT_EQ(typeid(*hnsw->storage), typeid(faiss::IndexFlatIP));
  hnsw->hnsw.efSearch = 64;
  hnsw->hnsw.search_bounded_queue = false;  // relgeo walks level 0 as hnswlib does
  const Matrix uq = Unit(q);
  Hits theirs{std::vector<int64_t>(nq * k), std::vector<float>(nq * k)};
  hnsw->search(nq, uq.data(), k, theirs.scores.data(), theirs.ids.data());
  EXPECT_GE(RecallAt(mine, theirs, nq, k), 0.99);
  for (int64_t i = 0; i < nq * k; ++i)
    if (mine.ids[i] == theirs.ids[i]) EXPECT_NEAR(mine.scores[i], theirs.scores[i], 2e-5);

  // At a small ef the unbounded walk finds at least what FAISS's default bounded one
  // does (the reason relgeo uses it), both measured against exact search.
  auto exact = Make("Flat", x, ids);
  Hits truth{std::vector<int64_t>(nq * k), std::vector<float>(nq * k)};
  ASSERT_TRUE(exact->Search(q, k, {}, nullptr, truth.ids.data(), truth.scores.data()).ok());
  p.ef_search = 12;
  ASSERT_TRUE(index->Search(q, k, p, nullptr, mine.ids.data(), mine.scores.data()).ok());
  hnsw->hnsw.efSearch = 12;
  hnsw->hnsw.search_bounded_queue = true;
  hnsw->search(nq, uq.data(), k, theirs.scores.data(), theirs.ids.data());
  EXPECT_GE(RecallAt(mine, truth, nq, k), RecallAt(theirs, truth, nq, k));
}

}  // namespace
}  // namespace relgeo
