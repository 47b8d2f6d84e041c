// FAISS behind relgeo::VectorIndex (include/relgeo/index.h).
//
//   Flat  IndexIDMap2(IndexFlatIP): ids stored by FAISS, remove_ids; searched by
//         relgeo's own kernel (flat_kernel.h) over FAISS's vectors, FAISS's search
//         when oneDNN is not loaded.
//   HNSW  IndexHNSWFlat(IP) over internal positions 0..n-1 plus a position -> id
//         table; FAISS cannot remove from HNSW, so a delete is a tombstone
//         (position -> -1) filtered at search time, and the graph is rebuilt from
//         its own stored vectors once tombstones exceed 25% of the positions.
//   IVF   index_factory("IVFn,<codec>", IP) with add_with_ids / remove_ids; until
//         TrainThreshold() vectors exist they live in an exact IDMap2(FlatIP)
//         buffer, which is then used as the k-means training set and moved in.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/Heap.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "flat_kernel.h"
#include "relgeo/index.h"

namespace relgeo {
namespace {

using idx_t = faiss::Index::idx_t;

template <typename F>
Status GuardFaiss(const char* what, F&& fn) {
  try {
    fn();
    return Status::OK();
  } catch (const faiss::FaissException& e) {
    return Status::Internal(std::string(what) + ": FAISS: " + e.what());
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  }
}

// Row-wise L2 normalisation into a fresh buffer (zero rows stay zero).
std::vector<float> Normalized(MatrixView m) {
  std::vector<float> out(m.data(), m.data() + m.size());
  for (int64_t r = 0; r < m.rows(); ++r) {
    float* row = out.data() + r * m.cols();
    double s = 0;
    for (int64_t c = 0; c < m.cols(); ++c) s += static_cast<double>(row[c]) * row[c];
    if (s > 0) {
      const float inv = static_cast<float>(1.0 / std::sqrt(s));
      for (int64_t c = 0; c < m.cols(); ++c) row[c] *= inv;
    }
  }
  return out;
}

// ---- byte (de)serialisation helpers ----
void PutU64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }
void PutBlob(std::string* s, const std::string& b) {
  PutU64(s, b.size());
  s->append(b);
}
struct Reader {
  const std::string& s;
  size_t pos = 0;
  bool U64(uint64_t* v) {
    if (pos + 8 > s.size()) return false;
    std::memcpy(v, s.data() + pos, 8);
    pos += 8;
    return true;
  }
  bool Blob(std::string* b) {
    uint64_t n;
    if (!U64(&n) || n > s.size() - pos) return false;
    b->assign(s.data() + pos, n);
    pos += n;
    return true;
  }
};

Result<std::string> FaissBytes(const faiss::Index* index) {
  faiss::VectorIOWriter w;
  RELGEO_RETURN_IF_ERROR(GuardFaiss("serialising index", [&] { faiss::write_index(index, &w); }));
  return std::string(w.data.begin(), w.data.end());
}

constexpr int64_t kMaxIndexDim = 1000000;  // kMaxAnchors (relgeo/relative_encoder.h)

// What the caller knows about an index it loads (-1: nothing).
struct Expect {
  int64_t dim = -1, size = -1;
};

// FAISS's index header (faiss/impl/index_write.cpp, 1.7.3): fourcc, i32 d, i64
// ntotal, two i64 dummies, u8 is_trained, i32 metric_type [, f32 metric_arg].
struct FaissHeader {
  std::string fourcc;
  int64_t d = 0, ntotal = 0;
  size_t end = 0;  // offset after the header
};
bool ReadFaissHeader(const std::string& b, size_t pos, FaissHeader* h) {
  constexpr size_t kLen = 4 + 4 + 8 + 8 + 8 + 1 + 4;
  if (pos > b.size() || b.size() - pos < kLen) return false;
  int32_t d, metric;
  int64_t ntotal;
  h->fourcc.assign(b.data() + pos, 4);
  std::memcpy(&d, b.data() + pos + 4, 4);
  std::memcpy(&ntotal, b.data() + pos + 8, 8);
  std::memcpy(&metric, b.data() + pos + 33, 4);
  h->d = d;
  h->ntotal = ntotal;
  h->end = pos + kLen + (metric > 1 ? 4 : 0);
  return h->end <= b.size();
}

// Checks a FAISS blob's headers before read_index sees it: FAISS trusts them
// (IndexIDMap2's construct_rev_map walks `ntotal` entries of an id table that may
// be shorter, and vector sizes are allocated before they are read), so a crafted
// file with a valid checksum could overflow or run for hours (docs/design.md §5.4).
Status CheckFaissBlob(const std::string& b, const Expect& e) {
  FaissHeader h;
  if (!ReadFaissHeader(b, 0, &h)) return Status::Corruption("FAISS header truncated");
  if (h.d < 1 || h.d > kMaxIndexDim) return Status::Corruption("FAISS header: dimension " + std::to_string(h.d) + " out of range");
  if (e.dim >= 0 && h.d != e.dim)
    return Status::Corruption("FAISS header: dimension " + std::to_string(h.d) + ", expected " + std::to_string(e.dim));
  // Every stored vector takes at least one byte of the file.
  if (h.ntotal < 0 || static_cast<uint64_t>(h.ntotal) > b.size())
    return Status::Corruption("FAISS header: " + std::to_string(h.ntotal) + " vectors cannot fit in " +
                              std::to_string(b.size()) + " bytes");
  const bool hnsw = h.fourcc.compare(0, 3, "IHN") == 0;
  if (e.size >= 0 && (hnsw ? h.ntotal < e.size : h.ntotal != e.size))
    return Status::Corruption("FAISS header: " + std::to_string(h.ntotal) + " vectors, the database has " +
                              std::to_string(e.size) + " items");
  if (h.fourcc == "IxM2") {
    // IndexIDMap2 over IndexFlatIP (Flat, Flat,SQ8 before training, IVF's training
    // buffer) or IndexScalarQuantizer (Flat,fp16 and Flat,SQ8): the layout is fully
    // determined by d, ntotal and (SQ) the trained-range count: header, inner header,
    // [SQ fields], u64 count + the rows, u64 n + n ids.
    const uint64_t n = static_cast<uint64_t>(h.ntotal), d = static_cast<uint64_t>(h.d);
    FaissHeader sub;
    const bool sq = ReadFaissHeader(b, h.end, &sub) && sub.fourcc == "IxSQ";
    if (!ReadFaissHeader(b, h.end, &sub) || (sub.fourcc != "IxFI" && !sq) || sub.d != h.d || sub.ntotal != h.ntotal)
      return Status::Corruption("FAISS id map: its flat index header disagrees with the outer one");
    uint64_t rows_at = sub.end, row_bytes = d * 4;
    if (sq) {
      // ScalarQuantizer (faiss/impl/index_write.cpp, 1.7.3): i32 qtype, i32 rangestat,
      // f32 rangestat_arg, u64 d, u64 code_size, u64 m + m floats of trained ranges.
      constexpr size_t kSqFields = 4 + 4 + 4 + 8 + 8;
      if (b.size() - sub.end < kSqFields + 8) return Status::Corruption("FAISS scalar quantizer truncated");
      int32_t qtype = 0;
      uint64_t sq_d = 0, code_size = 0, trained = 0;
      std::memcpy(&qtype, b.data() + sub.end, 4);
      std::memcpy(&sq_d, b.data() + sub.end + 12, 8);
      std::memcpy(&code_size, b.data() + sub.end + 20, 8);
      std::memcpy(&trained, b.data() + sub.end + kSqFields, 8);
      const bool fp16 = qtype == faiss::ScalarQuantizer::QT_fp16, sq8 = qtype == faiss::ScalarQuantizer::QT_8bit;
      if ((!fp16 && !sq8) || sq_d != d || code_size != (fp16 ? 2 * d : d) || trained > 2 * d)
        return Status::Corruption("FAISS scalar quantizer: type, dimension or code size not what Flat stores");
      rows_at = sub.end + kSqFields + 8 + trained * 4;
      row_bytes = code_size;
    }
    const uint64_t expect_size = rows_at + 8 + n * row_bytes + 8 + n * 8;
    if (n > b.size() / 8 || n * d > b.size() || b.size() != expect_size)
      return Status::Corruption("FAISS id map: " + std::to_string(b.size()) + " bytes, " + std::to_string(expect_size) +
                                " expected for " + std::to_string(n) + " vectors of dimension " + std::to_string(d));
    uint64_t codes = 0, ids = 0;
    std::memcpy(&codes, b.data() + rows_at, 8);
    std::memcpy(&ids, b.data() + rows_at + 8 + n * row_bytes, 8);
    const bool codes_ok = sq ? codes == n * row_bytes : (codes == n * d || codes == n * d * 4);
    if (!codes_ok || ids != n) return Status::Corruption("FAISS id map: vector or id table sizes disagree with its header");
  }
  return Status::OK();
}

Result<std::unique_ptr<faiss::Index>> FaissFromBytes(const std::string& bytes, const Expect& expect = {}) {
  RELGEO_RETURN_IF_ERROR(CheckFaissBlob(bytes, expect));
  std::unique_ptr<faiss::Index> out;
  Status s = GuardFaiss("reading index", [&] {
    faiss::VectorIOReader r;
    r.data.assign(bytes.begin(), bytes.end());
    out.reset(faiss::read_index(&r));
  });
  if (!s.ok()) return Status::Corruption(s.message());
  return out;
}

constexpr char kMagic[] = "RGVI0001";
std::string Header(const IndexSpec& spec) {
  std::string out(kMagic, 8);
  PutBlob(&out, spec.ToString());
  return out;
}

// Shared over-fetch + filter loop: `raw(kk, ids, scores)` searches one query for
// kk candidates; candidates whose id is -1 after `map` (tombstones) or rejected by
// the filter are skipped; kk doubles until k survive or the index is exhausted.
template <typename RawSearch, typename MapId>
void FilteredSearch(int64_t nq, int64_t k, int64_t total, const IdFilter* filter, int64_t extra, RawSearch raw,
                    MapId map, int64_t* out_ids, float* out_scores) {
  std::fill(out_ids, out_ids + nq * k, -1);
  std::fill(out_scores, out_scores + nq * k, -std::numeric_limits<float>::infinity());
  if (total <= 0 || k <= 0) return;
  int64_t kk = std::min<int64_t>(total, (filter ? 2 * k + 16 : k) + extra);
  std::vector<int64_t> pending(nq);
  for (int64_t i = 0; i < nq; ++i) pending[i] = i;
  std::vector<idx_t> labels;
  std::vector<float> dist;
  while (!pending.empty()) {
    labels.assign(pending.size() * kk, -1);
    dist.assign(pending.size() * kk, 0.f);
    raw(pending, kk, labels.data(), dist.data());
    std::vector<int64_t> next;
    for (size_t p = 0; p < pending.size(); ++p) {
      const int64_t q = pending[p];
      int64_t got = 0, seen = 0;
      for (int64_t j = 0; j < kk && got < k; ++j) {
        const idx_t l = labels[p * kk + j];
        if (l == -1) continue;  // FAISS: fewer results than asked
        ++seen;
        const int64_t id = map(l);
        if (id == -1 || (filter && !(*filter)(id))) continue;  // -1: tombstone (ids are never -1)
        out_ids[q * k + got] = id;
        out_scores[q * k + got] = dist[p * kk + j];
        ++got;
      }
      if (got < k && kk < total) next.push_back(q);
    }
    pending.swap(next);
    kk = std::min<int64_t>(total, kk * 2);
  }
}

// ---------------------------------------------------------------- Flat
// relgeo's exact search (flat_kernel.h) over an IndexIDMap2 whose inner index is
// IndexFlatIP (rows read in place) or IndexScalarQuantizer (rows decoded a block
// at a time); FAISS's own search when oneDNN is not loaded.
Status KernelSearch(const faiss::IndexIDMap2& m, int64_t dim, const float* x, int64_t nq, int64_t k,
                    const IdFilter* filter, int64_t* out_ids, float* out_scores) {
  const std::vector<idx_t>& ids = m.id_map;
  std::function<bool(int64_t)> keep;
  if (filter) keep = [&](int64_t pos) { return (*filter)(ids[pos]); };
  RELGEO_RETURN_IF_ERROR(GuardFaiss("searching Flat index", [&] {
    bool ok = false;
    if (const auto* flat = dynamic_cast<const faiss::IndexFlat*>(m.index)) {
      ok = internal::FlatTopK(flat->get_xb(), m.ntotal, dim, x, nq, k, filter ? &keep : nullptr, out_ids, out_scores);
    } else {
      const auto& sq = dynamic_cast<const faiss::IndexScalarQuantizer&>(*m.index);
      const bool fp16 = sq.sq.qtype == faiss::ScalarQuantizer::QT_fp16;
      if (!fp16 && sq.sq.trained.size() != static_cast<size_t>(2 * dim)) throw std::runtime_error("SQ8 ranges missing");
      const internal::RowSource rows = [&sq, fp16, dim](int64_t r0, int64_t count, float* scratch) {
        const uint8_t* c = sq.codes.data() + r0 * sq.code_size;
        if (fp16)
          internal::DecodeFp16(reinterpret_cast<const uint16_t*>(c), count, dim, scratch);
        else
          internal::DecodeSq8(c, count, dim, sq.sq.trained.data(), sq.sq.trained.data() + dim, scratch);
        return static_cast<const float*>(scratch);
      };
      ok = internal::FlatTopK(rows, m.ntotal, dim, x, nq, k, filter ? &keep : nullptr, out_ids, out_scores);
    }
    if (!ok) throw std::runtime_error("dnnl_sgemm failed");
  }));
  for (int64_t i = 0; i < nq * k; ++i)
    if (out_ids[i] >= 0) out_ids[i] = ids[out_ids[i]];
  return Status::OK();
}

// FAISS's own search of an id map (the fallback), through the over-fetch filter loop.
void FaissMapSearch(const faiss::IndexIDMap2& m, int64_t dim, const float* x, int64_t nq, int64_t k,
                    const IdFilter* filter, int64_t* out_ids, float* out_scores) {
  FilteredSearch(
      nq, k, m.ntotal, filter, 0,
      [&](const std::vector<int64_t>& rows, int64_t kk, idx_t* l, float* d) {
        if (rows.size() == static_cast<size_t>(nq)) {
          m.search(nq, x, kk, d, l);
        } else {
          for (size_t i = 0; i < rows.size(); ++i) m.search(1, x + rows[i] * dim, kk, d + i * kk, l + i * kk);
        }
      },
      [](idx_t l) { return static_cast<int64_t>(l); }, out_ids, out_scores);
}

Status MapSearch(const faiss::IndexIDMap2& m, int64_t dim, MatrixView q, int64_t k, const IdFilter* filter,
                 int64_t* out_ids, float* out_scores) {
  auto x = Normalized(q);
  if (internal::FlatKernelAvailable()) return KernelSearch(m, dim, x.data(), q.rows(), k, filter, out_ids, out_scores);
  return GuardFaiss("searching Flat index", [&] { FaissMapSearch(m, dim, x.data(), q.rows(), k, filter, out_ids, out_scores); });
}

std::unique_ptr<faiss::IndexIDMap2> FlatMap(faiss::Index* inner) {
  auto m = std::make_unique<faiss::IndexIDMap2>(inner);
  m->own_fields = true;
  return m;
}

// Flat, Flat,fp16, Flat,SQ8. SQ8 keeps float32 rows until TrainThreshold() of them
// exist, then trains its per-dimension ranges on them and moves them in.
class FlatIndex : public VectorIndex {
 public:
  FlatIndex(const IndexSpec& spec, int64_t dim) : spec_(spec), dim_(dim) {
    const int d = static_cast<int>(dim);
    if (spec.flat_codec == "fp16")
      index_ = FlatMap(new faiss::IndexScalarQuantizer(d, faiss::ScalarQuantizer::QT_fp16, faiss::METRIC_INNER_PRODUCT));
    else
      index_ = FlatMap(new faiss::IndexFlatIP(d));
  }
  FlatIndex(const IndexSpec& spec, std::unique_ptr<faiss::IndexIDMap2> index)
      : spec_(spec), dim_(index->d), index_(std::move(index)) {}

  // Whether a loaded id map's inner index is what `spec` stores.
  static bool Holds(const IndexSpec& spec, const faiss::IndexIDMap2& m) {
    const auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(m.index);
    if (spec.flat_codec == "fp16") return sq && sq->sq.qtype == faiss::ScalarQuantizer::QT_fp16;
    if (spec.flat_codec == "SQ8" && sq) return sq->sq.qtype == faiss::ScalarQuantizer::QT_8bit;
    return dynamic_cast<const faiss::IndexFlatIP*>(m.index) != nullptr;
  }

  Status Add(const int64_t* ids, MatrixView v) override {
    auto x = Normalized(v);
    RELGEO_RETURN_IF_ERROR(GuardFaiss("adding to Flat index", [&] { index_->add_with_ids(v.rows(), x.data(), ids); }));
    if (!trained() && index_->ntotal >= spec_.TrainThreshold()) return TrainSq8();
    return Status::OK();
  }

  Status TrainSq8() {
    const auto* flat = static_cast<const faiss::IndexFlat*>(index_->index);
    auto sq = std::make_unique<faiss::IndexScalarQuantizer>(static_cast<int>(dim_), faiss::ScalarQuantizer::QT_8bit,
                                                            faiss::METRIC_INNER_PRODUCT);
    // Ranges from min/max over the rows so far, widened by 10% each side for the
    // rows still to come (they are clipped to the range).
    sq->sq.rangestat = faiss::ScalarQuantizer::RS_minmax;
    sq->sq.rangestat_arg = 0.1f;
    std::unique_ptr<faiss::IndexIDMap2> fresh;
    RELGEO_RETURN_IF_ERROR(GuardFaiss("training Flat,SQ8 index", [&] {
      sq->train(index_->ntotal, flat->get_xb());
      fresh = FlatMap(sq.release());
      fresh->add_with_ids(index_->ntotal, flat->get_xb(), index_->id_map.data());
    }));
    index_ = std::move(fresh);
    return Status::OK();
  }

  Result<int64_t> Remove(const int64_t* ids, int64_t n) override {
    size_t removed = 0;
    faiss::IDSelectorBatch sel(n, ids);
    RELGEO_RETURN_IF_ERROR(GuardFaiss("removing from Flat index", [&] { removed = index_->remove_ids(sel); }));
    return static_cast<int64_t>(removed);
  }
  Status Search(MatrixView q, int64_t k, const IndexSearchParams& params, const IdFilter* filter, int64_t* out_ids,
                float* out_scores) const override {
    RELGEO_RETURN_IF_ERROR(CheckSearchParams(spec_, params));
    return MapSearch(*index_, dim_, q, k, filter, out_ids, out_scores);
  }
  Result<std::string> Serialize() const override {
    std::string out = Header(spec_);
    RELGEO_ASSIGN_OR_RETURN(std::string blob, FaissBytes(index_.get()));
    PutBlob(&out, blob);
    return out;
  }
  int64_t size() const override { return index_->ntotal; }
  int64_t dim() const override { return dim_; }
  bool trained() const override {
    return spec_.flat_codec != "SQ8" || dynamic_cast<const faiss::IndexScalarQuantizer*>(index_->index) != nullptr;
  }
  const IndexSpec& spec() const override { return spec_; }

 private:
  IndexSpec spec_;
  int64_t dim_;
  std::unique_ptr<faiss::IndexIDMap2> index_;
};

// ---------------------------------------------------------------- HNSW
// FAISS's graph walk (HNSW::search) with relgeo's distance: the negated inner
// product of unit vectors through InnerProduct (AVX-512), where Debian's FAISS
// (generic SIMD) would compute it with its portable loop.
struct NegIpDistance : faiss::DistanceComputer {
  const float* xb;
  int64_t d;
  const float* q = nullptr;
  NegIpDistance(const float* xb, int64_t d) : xb(xb), d(d) {}
  void set_query(const float* x) override { q = x; }
  float operator()(idx_t i) override { return -internal::InnerProduct(q, xb + i * d, d); }
  float symmetric_dis(idx_t i, idx_t j) override { return -internal::InnerProduct(xb + i * d, xb + j * d, d); }
};

// An IndexFlatIP whose distance computer is relgeo's AVX-512 inner product: FAISS's
// HNSW insertion reaches it through storage->get_distance_computer(), so the graph
// build runs on it too. write_index sees an IndexFlat and writes a plain IndexFlatIP
// ("IxFI"): the file format is unchanged.
struct FastIpCodes : faiss::FlatCodesDistanceComputer {
  int64_t d;
  const float* q = nullptr;
  FastIpCodes(const float* xb, int64_t d)
      : faiss::FlatCodesDistanceComputer(reinterpret_cast<const uint8_t*>(xb), d * sizeof(float)), d(d) {}
  void set_query(const float* x) override { q = x; }
  float distance_to_code(const uint8_t* code) override {
    return internal::InnerProduct(q, reinterpret_cast<const float*>(code), d);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    const float* xb = reinterpret_cast<const float*>(codes);
    return internal::InnerProduct(xb + i * d, xb + j * d, d);
  }
};
struct FastFlatIP : faiss::IndexFlatIP {
  explicit FastFlatIP(int64_t dim) : faiss::IndexFlatIP(dim) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override { return new FastIpCodes(get_xb(), d); }
};

// Moves an HNSW index's rows into a FastFlatIP storage, and makes the level-0 walk
// hnswlib's (an unbounded candidate queue: FAISS's default bounded one drops candidates
// once ef are queued, and needs a larger ef for the same recall, docs/search.md); false
// when its storage is not an inner-product IndexFlat of its dimension and size (a
// crafted file).
bool UseFastStorage(faiss::IndexHNSWFlat* h) {
  auto* flat = dynamic_cast<faiss::IndexFlat*>(h->storage);
  if (!flat || flat->metric_type != faiss::METRIC_INNER_PRODUCT || flat->d != h->d || flat->ntotal != h->ntotal ||
      flat->codes.size() != static_cast<size_t>(flat->ntotal) * flat->d * sizeof(float))
    return false;
  auto fast = std::make_unique<FastFlatIP>(h->d);
  fast->codes.swap(flat->codes);
  fast->ntotal = flat->ntotal;
  if (h->own_fields) delete h->storage;
  h->storage = fast.release();
  h->own_fields = true;
  h->hnsw.search_bounded_queue = false;  // search-time only: not in the file
  return true;
}

// The given query rows of x, kk results each into l/dist (best first), one OpenMP pool
// over the queries. The caller holds hnsw.efSearch fixed for the call.
void HnswSearchRows(const faiss::IndexHNSWFlat& index, const float* x, int64_t dim, const std::vector<int64_t>& rows,
                    int64_t kk, idx_t* l, float* dist) {
  const float* xb = static_cast<const faiss::IndexFlat*>(index.storage)->get_xb();
  const int64_t nrows = static_cast<int64_t>(rows.size());
#pragma omp parallel if (nrows > 1)
  {
    faiss::VisitedTable vt(index.ntotal);
    NegIpDistance dis(xb, dim);
#pragma omp for schedule(dynamic, 4)
    for (int64_t i = 0; i < nrows; ++i) {
      idx_t* li = l + i * kk;
      float* di = dist + i * kk;
      faiss::maxheap_heapify(kk, di, li);
      dis.set_query(x + rows[i] * dim);
      index.hnsw.search(dis, static_cast<int>(kk), li, di, vt);
      faiss::maxheap_reorder(kk, di, li);
      for (int64_t j = 0; j < kk; ++j)
        if (li[j] >= 0) di[j] = -di[j];
    }
  }
}

class HnswIndex : public VectorIndex {
 public:
  HnswIndex(const IndexSpec& spec, int64_t dim) : spec_(spec), dim_(dim) { index_ = Fresh(); }

  std::unique_ptr<faiss::IndexHNSWFlat> Fresh() const {
    auto idx = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dim_), spec_.hnsw_m, faiss::METRIC_INNER_PRODUCT);
    idx->hnsw.efConstruction = spec_.ef_construction;
    UseFastStorage(idx.get());  // an empty IndexFlatIP: always true
    return idx;
  }

  static Result<std::unique_ptr<VectorIndex>> Load(const IndexSpec& spec, Reader& r, const Expect& e) {
    std::string blob, table;
    if (!r.Blob(&blob) || !r.Blob(&table) || table.size() % 8 != 0) return Status::Corruption("truncated HNSW index");
    RELGEO_ASSIGN_OR_RETURN(auto raw, FaissFromBytes(blob, e));
    auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(raw.get());
    if (!h) return Status::Corruption("index file does not hold an HNSW index");
    if (!UseFastStorage(h)) return Status::Corruption("HNSW index storage is not an inner-product flat index");
    auto out = std::make_unique<HnswIndex>(spec, h->d);
    raw.release();
    out->index_.reset(h);
    out->pos_to_id_.resize(table.size() / 8);
    if (!table.empty()) std::memcpy(out->pos_to_id_.data(), table.data(), table.size());  // an empty index has no table
    if (static_cast<int64_t>(out->pos_to_id_.size()) != h->ntotal) return Status::Corruption("HNSW id table size mismatch");
    for (size_t p = 0; p < out->pos_to_id_.size(); ++p)
      if (out->pos_to_id_[p] != -1 && !out->id_to_pos_.emplace(out->pos_to_id_[p], p).second)
        return Status::Corruption("HNSW id table has a duplicate id");
    return std::unique_ptr<VectorIndex>(std::move(out));
  }

  Status Add(const int64_t* ids, MatrixView v) override {
    auto x = Normalized(v);
    const int64_t base = index_->ntotal;
    RELGEO_RETURN_IF_ERROR(GuardFaiss("adding to HNSW index", [&] { index_->add(v.rows(), x.data()); }));
    for (int64_t i = 0; i < v.rows(); ++i) {
      pos_to_id_.push_back(ids[i]);
      id_to_pos_[ids[i]] = base + i;
    }
    return Status::OK();
  }

  Result<int64_t> Remove(const int64_t* ids, int64_t n) override {
    int64_t removed = 0;
    for (int64_t i = 0; i < n; ++i) {
      auto it = id_to_pos_.find(ids[i]);
      if (it == id_to_pos_.end()) continue;
      pos_to_id_[it->second] = -1;
      id_to_pos_.erase(it);
      ++removed;
    }
    const int64_t tomb = static_cast<int64_t>(pos_to_id_.size() - id_to_pos_.size());
    if (tomb > 0 && tomb * 4 > static_cast<int64_t>(pos_to_id_.size())) RELGEO_RETURN_IF_ERROR(Compact());
    return removed;
  }

  // Rebuilds the graph from the live vectors it stores (drops tombstones).
  Status Compact() {
    std::vector<float> x;
    std::vector<int64_t> ids;
    x.reserve(id_to_pos_.size() * dim_);
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(index_->storage);
    if (!flat) return Status::Internal("HNSW storage is not flat");
    const float* xb = flat->get_xb();
    for (size_t p = 0; p < pos_to_id_.size(); ++p) {
      if (pos_to_id_[p] == -1) continue;
      ids.push_back(pos_to_id_[p]);
      x.insert(x.end(), xb + p * dim_, xb + (p + 1) * dim_);
    }
    auto fresh = Fresh();
    RELGEO_RETURN_IF_ERROR(GuardFaiss("rebuilding HNSW index", [&] { fresh->add(ids.size(), x.data()); }));
    index_ = std::move(fresh);
    pos_to_id_ = ids;
    id_to_pos_.clear();
    for (size_t p = 0; p < ids.size(); ++p) id_to_pos_[ids[p]] = p;
    return Status::OK();
  }

  Status Search(MatrixView q, int64_t k, const IndexSearchParams& params, const IdFilter* filter, int64_t* out_ids,
                float* out_scores) const override {
    RELGEO_RETURN_IF_ERROR(CheckSearchParams(spec_, params));
    auto x = Normalized(q);
    const int64_t tomb = static_cast<int64_t>(pos_to_id_.size() - id_to_pos_.size());
    return GuardFaiss("searching HNSW index", [&] {
      FilteredSearch(
          q.rows(), k, index_->ntotal, filter, std::min<int64_t>(tomb, 4 * k),
          [&](const std::vector<int64_t>& rows, int64_t kk, idx_t* l, float* d) {
            // FAISS 1.7.3's IndexHNSW sizes its candidate heap from the member
            // hnsw.efSearch and ignores SearchParametersHNSW there, so the member
            // is set per call: searches wanting the same ef share ef_mu_, a
            // search wanting another ef waits for them, sets it, and retries.
            const int ef = static_cast<int>(std::max<int64_t>(params.ef_search > 0 ? params.ef_search : 64, kk));
            for (;;) {
              {
                // Taking the gate first lets a waiting search with another ef in
                // (writer preference), so a stream of one ef cannot starve another.
                std::unique_lock<std::mutex> gate(ef_gate_);
                std::shared_lock<std::shared_mutex> lock(ef_mu_);
                gate.unlock();
                if (index_->hnsw.efSearch == ef) {
                  HnswSearchRows(*index_, x.data(), dim_, rows, kk, l, d);
                  return;
                }
              }
              std::lock_guard<std::mutex> gate(ef_gate_);  // queue behind, not around, other ef values
              std::unique_lock<std::shared_mutex> lock(ef_mu_);
              index_->hnsw.efSearch = ef;
            }
          },
          [&](idx_t l) { return l >= 0 && l < static_cast<idx_t>(pos_to_id_.size()) ? pos_to_id_[l] : int64_t{-1}; }, out_ids,
          out_scores);
    });
  }

  Result<std::string> Serialize() const override {
    std::string out = Header(spec_);
    RELGEO_ASSIGN_OR_RETURN(std::string blob, FaissBytes(index_.get()));
    PutBlob(&out, blob);
    PutBlob(&out, std::string(reinterpret_cast<const char*>(pos_to_id_.data()), pos_to_id_.size() * 8));
    return out;
  }
  int64_t size() const override { return static_cast<int64_t>(id_to_pos_.size()); }
  int64_t dim() const override { return dim_; }
  bool trained() const override { return true; }
  const IndexSpec& spec() const override { return spec_; }

 private:
  IndexSpec spec_;
  int64_t dim_;
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  mutable std::shared_mutex ef_mu_;  // guards index_->hnsw.efSearch during searches
  mutable std::mutex ef_gate_;       // writer preference for ef_mu_
  std::vector<int64_t> pos_to_id_;                 // -1: tombstone
  std::unordered_map<int64_t, int64_t> id_to_pos_;  // live ids only
};

// ---------------------------------------------------------------- IVF
class IvfIndex : public VectorIndex {
 public:
  IvfIndex(const IndexSpec& spec, int64_t dim) : spec_(spec), dim_(dim) {
    buffer_ = std::make_unique<faiss::IndexIDMap2>(new faiss::IndexFlatIP(static_cast<int>(dim)));
    buffer_->own_fields = true;
  }

  static Result<std::unique_ptr<VectorIndex>> Load(const IndexSpec& spec, Reader& r, const Expect& e) {
    uint64_t trained = 0;
    std::string blob;
    if (!r.U64(&trained) || !r.Blob(&blob)) return Status::Corruption("truncated IVF index");
    RELGEO_ASSIGN_OR_RETURN(auto raw, FaissFromBytes(blob, e));
    auto out = std::make_unique<IvfIndex>(spec, raw->d);
    if (trained) {
      auto* ivf = dynamic_cast<faiss::IndexIVF*>(raw.get());
      if (!ivf) return Status::Corruption("index file does not hold an IVF index");
      raw.release();
      out->ivf_.reset(ivf);
      out->buffer_.reset();
    } else {
      auto* b = dynamic_cast<faiss::IndexIDMap2*>(raw.get());
      if (!b) return Status::Corruption("index file does not hold an IVF training buffer");
      raw.release();
      out->buffer_.reset(b);
    }
    return std::unique_ptr<VectorIndex>(std::move(out));
  }

  Status Add(const int64_t* ids, MatrixView v) override {
    auto x = Normalized(v);
    if (ivf_) return GuardFaiss("adding to IVF index", [&] { ivf_->add_with_ids(v.rows(), x.data(), ids); });
    RELGEO_RETURN_IF_ERROR(GuardFaiss("adding to IVF buffer", [&] { buffer_->add_with_ids(v.rows(), x.data(), ids); }));
    if (buffer_->ntotal >= spec_.TrainThreshold()) return Train();
    return Status::OK();
  }

  Status Train() {
    std::unique_ptr<faiss::Index> made;
    const std::string factory = "IVF" + std::to_string(spec_.nlist) + "," + spec_.ivf_codec;
    RELGEO_RETURN_IF_ERROR(GuardFaiss("creating IVF index", [&] {
      made.reset(faiss::index_factory(static_cast<int>(dim_), factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    }));
    auto* ivf = dynamic_cast<faiss::IndexIVF*>(made.get());
    if (!ivf) return Status::Internal("index_factory did not build an IVF index for " + factory);
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(buffer_->index);
    const float* xb = flat->get_xb();
    const int64_t n = buffer_->ntotal;
    // k-means on at most 256 points per list (FAISS's own cap), a strided sample.
    const int64_t max_train = std::min<int64_t>(n, int64_t{256} * spec_.nlist);
    std::vector<float> sample;
    const float* train_x = xb;
    if (max_train < n) {
      sample.resize(max_train * dim_);
      for (int64_t i = 0; i < max_train; ++i) {
        const int64_t src = i * n / max_train;
        std::memcpy(sample.data() + i * dim_, xb + src * dim_, dim_ * sizeof(float));
      }
      train_x = sample.data();
    }
    RELGEO_RETURN_IF_ERROR(GuardFaiss("training IVF index", [&] {
      ivf->cp.verbose = false;
      ivf->verbose = false;
      ivf->train(max_train, train_x);
      ivf->add_with_ids(n, xb, buffer_->id_map.data());
    }));
    made.release();
    ivf_.reset(ivf);
    buffer_.reset();
    return Status::OK();
  }

  Result<int64_t> Remove(const int64_t* ids, int64_t n) override {
    size_t removed = 0;
    faiss::IDSelectorBatch sel(n, ids);
    RELGEO_RETURN_IF_ERROR(GuardFaiss("removing from IVF index", [&] {
      removed = ivf_ ? ivf_->remove_ids(sel) : buffer_->remove_ids(sel);
    }));
    return static_cast<int64_t>(removed);
  }

  Status Search(MatrixView q, int64_t k, const IndexSearchParams& params, const IdFilter* filter, int64_t* out_ids,
                float* out_scores) const override {
    RELGEO_RETURN_IF_ERROR(CheckSearchParams(spec_, params));
    if (!ivf_) return MapSearch(*buffer_, dim_, q, k, filter, out_ids, out_scores);  // exact until trained
    auto x = Normalized(q);
    const faiss::Index* idx = ivf_ ? static_cast<const faiss::Index*>(ivf_.get()) : buffer_.get();
    return GuardFaiss("searching IVF index", [&] {
      faiss::SearchParametersIVF sp;
      sp.nprobe = static_cast<size_t>(std::min(params.nprobe > 0 ? params.nprobe : 16, std::max(spec_.nlist, 1)));
      FilteredSearch(
          q.rows(), k, idx->ntotal, filter, 0,
          [&](const std::vector<int64_t>& rows, int64_t kk, idx_t* l, float* d) {
            const faiss::SearchParameters* p = ivf_ ? &sp : nullptr;
            if (rows.size() == static_cast<size_t>(q.rows())) {
              idx->search(q.rows(), x.data(), kk, d, l, p);
            } else {
              for (size_t i = 0; i < rows.size(); ++i)
                idx->search(1, x.data() + rows[i] * dim_, kk, d + i * kk, l + i * kk, p);
            }
          },
          [](idx_t l) { return static_cast<int64_t>(l); }, out_ids, out_scores);
    });
  }

  Result<std::string> Serialize() const override {
    std::string out = Header(spec_);
    PutU64(&out, ivf_ ? 1 : 0);
    RELGEO_ASSIGN_OR_RETURN(std::string blob,
                            FaissBytes(ivf_ ? static_cast<const faiss::Index*>(ivf_.get()) : buffer_.get()));
    PutBlob(&out, blob);
    return out;
  }
  int64_t size() const override { return ivf_ ? ivf_->ntotal : buffer_->ntotal; }
  int64_t dim() const override { return dim_; }
  bool trained() const override { return ivf_ != nullptr; }
  const IndexSpec& spec() const override { return spec_; }

 private:
  IndexSpec spec_;
  int64_t dim_;
  std::unique_ptr<faiss::IndexIDMap2> buffer_;  // until trained
  std::unique_ptr<faiss::IndexIVF> ivf_;
};

}  // namespace

// ---------------------------------------------------------------- factory
Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(const IndexSpec& spec, int64_t dim) {
  if (dim <= 0 || dim > (1 << 20)) return Status::InvalidArgument("index dimension must be positive");
  if (spec.kind == IndexSpec::Kind::kIVF && spec.ivf_codec.rfind("PQ", 0) == 0) {
    const int m = std::stoi(spec.ivf_codec.substr(2));
    if (m <= 0 || dim % m != 0)
      return Status::InvalidArgument("index spec " + spec.ToString() + ": PQ m must divide the dimension " +
                                     std::to_string(dim));
  }
  switch (spec.kind) {
    case IndexSpec::Kind::kFlat: return std::unique_ptr<VectorIndex>(new FlatIndex(spec, dim));
    case IndexSpec::Kind::kHNSW: return std::unique_ptr<VectorIndex>(new HnswIndex(spec, dim));
    case IndexSpec::Kind::kIVF: return std::unique_ptr<VectorIndex>(new IvfIndex(spec, dim));
  }
  return Status::Internal("unknown index kind");
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Deserialize(const std::string& bytes) { return Deserialize(bytes, -1, -1); }

Result<std::unique_ptr<VectorIndex>> VectorIndex::Deserialize(const std::string& bytes, int64_t expected_dim,
                                                              int64_t expected_size) {
  const Expect e{expected_dim, expected_size};
  if (bytes.size() < 8 || bytes.compare(0, 8, kMagic, 8) != 0) return Status::Corruption("not a relgeo index (bad magic)");
  Reader r{bytes, 8};
  std::string spec_text;
  if (!r.Blob(&spec_text)) return Status::Corruption("truncated index header");
  auto spec = IndexSpec::Parse(spec_text);
  if (!spec.ok()) return Status::Corruption("index header: " + spec.status().message());
  switch (spec->kind) {
    case IndexSpec::Kind::kFlat: {
      std::string blob;
      if (!r.Blob(&blob)) return Status::Corruption("truncated Flat index");
      RELGEO_ASSIGN_OR_RETURN(auto raw, FaissFromBytes(blob, e));
      auto* m = dynamic_cast<faiss::IndexIDMap2*>(raw.get());
      if (!m || !FlatIndex::Holds(*spec, *m))
        return Status::Corruption("index file does not hold a " + spec->ToString() + " index");
      raw.release();
      return std::unique_ptr<VectorIndex>(new FlatIndex(*spec, std::unique_ptr<faiss::IndexIDMap2>(m)));
    }
    case IndexSpec::Kind::kHNSW: return HnswIndex::Load(*spec, r, e);
    case IndexSpec::Kind::kIVF: return IvfIndex::Load(*spec, r, e);
  }
  return Status::Corruption("unknown index kind");
}

}  // namespace relgeo

namespace relgeo::internal {
// For BuildInfo (src/util/version.cpp).
std::string FaissVersion() {
  return std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) + "." +
         std::to_string(FAISS_VERSION_PATCH);
}
}  // namespace relgeo::internal
