// libFuzzer target for the stored record formats (src/database/records.cpp): every
// value read back from RocksDB (a damaged or foreign database is outside bytes).
// The first input byte picks the decoder; the rest is the value. Checks: a decoded
// binary record encodes back to exactly its bytes; a decoded JSON record encodes to
// JSON that decodes to the same fields; failures are Corruption with a message.
#include <cstring>
#include <string>
#include <vector>

#include "database/records.h"
#include "fuzz_util.h"

namespace {
using namespace relgeo;
using relgeo::fuzz::Check;

void Failed(const Status& s) {
  Check(s.code() == StatusCode::kCorruption);
  Check(!s.message().empty());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto m = records::DecodeMatrix(s);
      if (!m.ok()) return Failed(m.status()), 0;
      Check(records::EncodeMatrix(*m) == s);
      break;
    }
    case 1: {
      std::string model, payload;
      const float* rep = nullptr;
      int64_t K = -1;
      Status st = records::DecodeItem(s, &model, &rep, &K, &payload);
      if (!st.ok()) return Failed(st), 0;
      Check(K >= 0);
      // rep points into s and may be misaligned (records.h): copy, never load through it.
      std::vector<float> v(static_cast<size_t>(K));
      if (K > 0) std::memcpy(v.data(), rep, static_cast<size_t>(K) * sizeof(float));
      Check(records::EncodeItem(model, v.data(), K, payload) == s);
      // The variant that skips model and payload agrees.
      const float* rep2 = nullptr;
      int64_t K2 = -1;
      Check(records::DecodeItem(s, nullptr, &rep2, &K2, nullptr).ok() && K2 == K && rep2 == rep);
      break;
    }
    case 2: {
      uint64_t version = 0, count = 0;
      Status st = records::DecodeState(s, &version, &count);
      if (!st.ok()) return Failed(st), 0;
      Check(records::EncodeState(version, count) == s);
      break;
    }
    case 3: {
      auto ids = records::DecodeAnchorSet(s);
      if (!ids.ok()) return Failed(ids.status()), 0;
      Check(records::EncodeAnchorSet(*ids) == s);
      break;
    }
    case 4: {
      auto m = records::DecodeModel(s);
      if (!m.ok()) return Failed(m.status()), 0;
      auto again = records::DecodeModel(records::EncodeModel(*m));
      Check(again.ok());
      Check(again->name == m->name && again->latent_dim == m->latent_dim && again->output_dim == m->output_dim &&
            again->distance == m->distance && again->has_encoder == m->has_encoder && again->map_bytes == m->map_bytes);
      break;
    }
    case 5: {
      auto c = records::DecodeCollection(s);
      if (!c.ok()) return Failed(c.status()), 0;
      auto again = records::DecodeCollection(records::EncodeCollection(*c));
      Check(again.ok());
      Check(again->name == c->name && again->cid == c->cid && again->options.anchor_set == c->options.anchor_set &&
            again->options.index == c->options.index && again->options.steps == c->options.steps &&
            again->options.mode == c->options.mode && again->K == c->K);
      break;
    }
  }
  return 0;
}
