// The stored record formats (src/database/records.cpp), read back from RocksDB:
// damaged values are Corruption, never undefined behaviour or a silent wrong number.
// Fuzzed by fuzz/records_fuzzer.cpp, which found the JSON number conversions below.
#include <gtest/gtest.h>

#include "database/records.h"

namespace relgeo {
namespace {

const std::string kCollection =
    R"({"name":"items","cid":CID,"anchor_set":"S","index":"Flat","steps":STEPS,"mode":"length","K":KK})";

std::string Collection(const std::string& cid, const std::string& steps = "8", const std::string& k = "16") {
  std::string s = kCollection;
  s.replace(s.find("CID"), 3, cid);
  s.replace(s.find("STEPS"), 5, steps);
  s.replace(s.find("KK"), 2, k);
  return s;
}

TEST(Records, JsonNumbersAreCheckedIntegers) {
  auto ok = records::DecodeCollection(Collection("7"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->cid, 7u);
  EXPECT_EQ(ok->options.steps, 8);
  EXPECT_EQ(ok->K, 16);
  for (const auto& [cid, steps, k] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"-19999.99", "8", "16"},     // a float out of uint32's range (was undefined behaviour)
           {"99999999999", "8", "16"},   // wrapped to another collection's id
           {"-1", "8", "16"},
           {"1.5", "8", "16"},
           {"\"7\"", "8", "16"},
           {"7", "0", "16"},
           {"7", "1e300", "16"},
           {"7", "8", "-3"},
           {"7", "8", "18446744073709551615"}}) {
    auto r = records::DecodeCollection(Collection(cid, steps, k));
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << cid << " " << steps << " " << k;
    EXPECT_NE(r.status().message().find("collection record is damaged"), std::string::npos) << r.status().ToString();
  }
  const std::string model = R"({"name":"A","latent_dim":LD,"output_dim":4,"distance":"euclidean","has_encoder":false,"map_bytes":10})";
  auto with = [&](const std::string& ld) {
    std::string s = model;
    s.replace(s.find("LD"), 2, ld);
    return records::DecodeModel(s);
  };
  EXPECT_TRUE(with("6").ok());
  EXPECT_EQ(with("1e30").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(with("-6").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(with("18446744073709551615").status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace relgeo
