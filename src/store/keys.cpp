// The key layout (keys.h).
#include "store/keys.h"

namespace relgeo::store {
namespace {

void PutBe32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutBe64(std::string* s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string FormatKey() { return "F"; }
std::string AnchorSetKey(const std::string& name) { return kAnchorSetPrefix + name; }
std::string ModelKey(const std::string& name) { return kModelPrefix + name; }
std::string MapBytesKey(const std::string& model) { return "B" + model; }
std::string EncoderBytesKey(const std::string& model) { return "E" + model; }
std::string AnchorLatentsPrefix(const std::string& model) { return kAnchorLatentsPrefix + model + std::string(1, '\0'); }
std::string AnchorLatentsKey(const std::string& model, const std::string& set) {
  return AnchorLatentsPrefix(model) + set;
}
std::string CollectionKey(const std::string& name) { return kCollectionPrefix + name; }
std::string NextCollectionIdKey() { return "N"; }

std::string IngestPrefix(uint32_t cid) {
  std::string k = "P";
  PutBe32(&k, cid);
  return k;
}

std::string IngestKey(uint32_t cid, const std::string& input) { return IngestPrefix(cid) + input; }

std::string StateKey(uint32_t cid) {
  std::string k = "V";
  PutBe32(&k, cid);
  return k;
}
std::string ItemPrefix(uint32_t cid) {
  std::string k = "I";
  PutBe32(&k, cid);
  return k;
}
std::string ItemKey(uint32_t cid, int64_t id) {
  std::string k = ItemPrefix(cid);
  PutBe64(&k, static_cast<uint64_t>(id) ^ (uint64_t{1} << 63));
  return k;
}
int64_t ItemIdFromKey(const std::string& key) {
  uint64_t v = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  return static_cast<int64_t>(v ^ (uint64_t{1} << 63));
}

}  // namespace relgeo::store
