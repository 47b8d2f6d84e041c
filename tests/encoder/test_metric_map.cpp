// Metric maps (src/encoder/metric_map.cpp): load failures and maps that throw.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/version.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include <zlib.h>

#include "encoder/aoti_map.h"
#include "encoder/encoder_plan.h"
#include "encoder/torch_internal.h"
#include "encoder/torchscript_archive.h"
#include "fixtures.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "util/status_error.h"

namespace relgeo {
namespace {
using namespace relgeo::testing;

TEST(MetricMap, LoadFailuresAreClear) {
  auto missing = MetricMap::Load(TempDir() + "/does_not_exist.pt");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto corrupt = MetricMap::Load(WriteTempFile("corrupt.pt", "this is not a zip archive"));
  EXPECT_EQ(corrupt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(corrupt.status().message().find("TorchScript"), std::string::npos);
  // A truncated real module.
  std::string good = MlpMapBytes(3, 4, 5, 1);
  EXPECT_FALSE(MetricMap::FromBytes(good.substr(0, good.size() / 2)).ok());
  EXPECT_FALSE(MetricMap::FromBytes("").ok());
  // Output not (n x ...): a scalar.
  auto scalar = MetricMap::FromBytes(ModuleBytes("  return x.sum()\n", 3));
  EXPECT_FALSE(scalar.ok());
  // Output with the wrong row count.
  auto rows = MetricMap::FromBytes(ModuleBytes("  return torch.cat([x, x], 0)\n", 3));
  EXPECT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("expected (n x ...)"), std::string::npos);
  // Not a tensor.
  EXPECT_FALSE(MetricMap::FromBytes(ModuleBytes("  return [x]\n", 3)).ok());
  // A module that throws.
  auto throws = MetricMap::FromBytes(ModuleBytes("  return x.view(-1, 7)\n", 3));
  EXPECT_FALSE(throws.ok());
  // Device that this build cannot use.
  MetricMapOptions o;
  o.device = "tpu";
  EXPECT_FALSE(MetricMap::FromBytes(good, o).ok());
  o.device = "cuda";
  auto cuda = MetricMap::FromBytes(good, o);
  if (!cuda.ok()) {
    EXPECT_EQ(cuda.status().code(), StatusCode::kUnimplemented);
  }
  EXPECT_FALSE(ParseOutputDistance("manhattan").ok());
  EXPECT_FALSE(ParsePathMode("area").ok());
}

// .pt2 archives are told apart from TorchScript by their ZIP entries (docs/design.md
// §4.10; torchscript_archive.cpp). The packages PyTorch compiles are checked end to end
// in tests/python/test_torch_export.py.
std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& files) {
  auto le = [](std::string* out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  std::string body, central;
  for (const auto& [name, data] : files) {
    const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size());
    const uint64_t offset = body.size();
    body += std::string("PK\x03\x04", 4);
    le(&body, 20, 2), le(&body, 0, 2), le(&body, 0, 2), le(&body, 0, 2), le(&body, 0, 2), le(&body, crc, 4);
    le(&body, data.size(), 4), le(&body, data.size(), 4), le(&body, name.size(), 2), le(&body, 0, 2);
    body += name + data;
    central += std::string("PK\x01\x02", 4);
    le(&central, 20, 2), le(&central, 20, 2), le(&central, 0, 2), le(&central, 0, 2), le(&central, 0, 2);
    le(&central, 0, 2), le(&central, crc, 4), le(&central, data.size(), 4), le(&central, data.size(), 4);
    le(&central, name.size(), 2), le(&central, 0, 2), le(&central, 0, 2), le(&central, 0, 2), le(&central, 0, 2);
    le(&central, 0, 4), le(&central, offset, 4);
    central += name;
  }
  std::string out = body + central + std::string("PK\x05\x06", 4);
  le(&out, 0, 2), le(&out, 0, 2), le(&out, files.size(), 2), le(&out, files.size(), 2);
  le(&out, central.size(), 4), le(&out, body.size(), 4), le(&out, 0, 2);
  return out;
}

TEST(MetricMap, Pt2ArchivesGetTheirOwnClearErrors) {
  // An ExportedProgram saved by torch.export.save: no compiled model inside.
  const std::string program = StoredZip({{"model/archive_format", "pt2"}, {"model/models/model.json", "{}"}});
  ASSERT_EQ(*InspectMapArchive(program), MapArchiveKind::kExportedProgram);
  auto r = MetricMap::FromBytes(program);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("aoti_compile_and_package"), std::string::npos) << r.status().message();
  // A package with an AOTInductor entry but nothing loadable in it.
  const std::string broken =
      StoredZip({{"model/archive_format", "pt2"}, {"model/data/aotinductor/model/x.wrapper.so", "not an ELF"}});
  ASSERT_EQ(*InspectMapArchive(broken), MapArchiveKind::kAotiPackage);
  auto b = MetricMap::FromBytes(broken);
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), TORCH_VERSION_MAJOR >= 2 ? StatusCode::kInvalidArgument : StatusCode::kUnimplemented)
      << b.status().message();
  // TorchScript stays TorchScript; a .pt2 is no TorchScript archive.
  EXPECT_EQ(*InspectMapArchive(MlpMapBytes(3, 4, 5, 1)), MapArchiveKind::kTorchScript);
  EXPECT_FALSE(CheckTorchScriptArchive(program).ok());
}

// What reaches LibTorch's loader is a ZIP archive with a data.pkl record
// (src/encoder/torchscript_archive.cpp, fuzzed by fuzz/torchscript_archive_fuzzer.cpp);
// anything else is refused by relgeo with what is wrong.
TEST(MetricMap, OnlyTorchScriptArchivesReachLibTorch) {
  const std::string good = MlpMapBytes(3, 4, 5, 1);
  ASSERT_TRUE(CheckTorchScriptArchive(good).ok());
  ASSERT_TRUE(MetricMap::FromBytes(good).ok());
  auto expect_refused = [](const std::string& bytes, const std::string& why) {
    auto m = MetricMap::FromBytes(bytes);
    ASSERT_FALSE(m.ok()) << why;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << why;
    EXPECT_NE(m.status().message().find(why), std::string::npos) << m.status().ToString();
  };
  expect_refused("this is not a zip archive", "does not start with a ZIP local file header");
  expect_refused(std::string("PK\x03\x04", 4) + std::string(100, '\0'), "no ZIP end-of-central-directory record");
  expect_refused(good.substr(0, good.size() / 2), "not a TorchScript archive");
  expect_refused(good.substr(0, good.size() - 1), "not a TorchScript archive");
  // The central directory's offset pointing past the file.
  std::string bad_offset = good;
  const size_t eocd = bad_offset.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  const size_t locator = eocd - 20;
  ASSERT_EQ(bad_offset.compare(locator, 4, std::string("PK\x06\x07", 4)), 0) << "torch.jit.save writes ZIP64 records";
  bad_offset[locator + 8 + 5] = 0x7f;  // the ZIP64 record's offset, far past the end
  expect_refused(bad_offset, "bad ZIP64 end-of-central-directory locator");
  // A well-formed ZIP without data.pkl.
  std::string renamed = good;
  for (size_t pos = 0; (pos = renamed.find("data.pkl", pos)) != std::string::npos; ++pos) renamed[pos] = 'D';
  expect_refused(renamed, "no data.pkl record");
}

// A map with no outputs per row used to load, and then every encoder built on it
// divided by the width 0 (SIGFPE). It is refused when the map is probed.
TEST(MetricMap, ZeroWidthOutputIsRejectedAtLoad) {
  for (const char* body : {"  return x[:, :0]\n", "  return x.new_zeros([x.size(0), 0])\n",
                           "  return x.new_zeros([x.size(0), 3, 0])\n"}) {
    auto r = MetricMap::FromBytes(ModuleBytes(body, 3));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(r.status().message().find("0 outputs per row"), std::string::npos) << r.status().message();
    auto loaded = MetricMap::Load(WriteTempFile("zero_width.pt", ModuleBytes(body, 3)));
    ASSERT_FALSE(loaded.ok()) << body;
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument) << body;
  }
  // A latent dimension that is not positive (from the module's input_dim attribute).
  for (int64_t d : {0, -3}) {
    auto r = MetricMap::FromBytes(ModuleBytes("  return x * 2.0\n", d));
    ASSERT_FALSE(r.ok()) << d;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << d;
    EXPECT_NE(r.status().message().find("latent dimension"), std::string::npos) << r.status().message();
  }
  // Width 1 is fine.
  auto one = MetricMap::FromBytes(ModuleBytes("  return x[:, :1]\n", 3));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ((*one)->output_dim(), 1);
}

TEST(MetricMap, ThrowingOnlyForSomeInputsIsCaughtAtEncode) {
  // Accepts the probe (zeros) but fails (a bad reshape) when any input is large.
  std::string body =
      "  if bool(torch.any(torch.abs(x) > 5.0)):\n"
      "    x = x.view(-1, 7)\n"
      "  return x * 2.0\n";
  auto map = MetricMap::FromBytes(ModuleBytes(body, 2));
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  auto enc = RelativeEncoder::Create(*map, Matrix(1, 2, std::vector<float>{0.f, 0.f}), {});
  ASSERT_TRUE(enc.ok());
  auto r = (*enc)->Encode(Matrix(1, 2, std::vector<float>{9.f, 9.f}));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid"), std::string::npos) << r.status().message();
  // Non-finite outputs are reported, not returned.
  auto nanmap = MetricMap::FromBytes(ModuleBytes("  return torch.log(x)\n", 1));
  ASSERT_TRUE(nanmap.ok());
  auto enc2 = RelativeEncoder::Create(*nanmap, Matrix(1, 1, std::vector<float>{1.f}), {});
  ASSERT_TRUE(enc2.ok());
  EXPECT_FALSE((*enc2)->Encode(Matrix(1, 1, std::vector<float>{-1.f})).ok());
}

// A map file is read whole, so only a regular file of at most 2 GiB is read: a
// directory, a device such as /dev/zero (read without end before) or a FIFO
// (blocked forever) is refused by its type, a larger file by its size, before any
// byte is read.
TEST(MetricMap, LoadReadsOnlyRegularFilesOfBoundedSize) {
  const std::string dir = TempDir() + "/map_is_a_directory.pt";
  std::filesystem::create_directories(dir);
  auto d = MetricMap::Load(dir);
  ASSERT_EQ(d.status().code(), StatusCode::kInvalidArgument) << d.status().ToString();
  EXPECT_NE(d.status().message().find("not a regular file"), std::string::npos) << d.status().message();
  EXPECT_NE(d.status().message().find(dir), std::string::npos) << d.status().message();
  // 2 GiB + 1 bytes, sparse: nothing is written or read.
  const std::string big = TempDir() + "/map_too_big.pt";
  {
    std::ofstream(big, std::ios::trunc);
    std::filesystem::resize_file(big, (uintmax_t{2} << 30) + 1);
  }
  auto b = MetricMap::Load(big);
  std::filesystem::remove(big);
  ASSERT_EQ(b.status().code(), StatusCode::kInvalidArgument) << b.status().ToString();
  EXPECT_NE(b.status().message().find("2147483649 bytes"), std::string::npos) << b.status().message();
  for (const char* device : {"/dev/zero", "/dev/null"}) {
    auto r = MetricMap::Load(device);
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << device << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos) << r.status().message();
  }
  const std::string fifo = TempDir() + "/map_fifo.pt";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = MetricMap::Load(fifo);
  std::filesystem::remove(fifo);
  EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument) << f.status().ToString();
  // A symbolic link to a good map is followed.
  const std::string target = WriteTempFile("map_link_target.pt", MlpMapBytes(3, 4, 5, 1));
  const std::string link = TempDir() + "/map_link.pt";
  std::filesystem::remove(link);
  std::filesystem::create_symlink(target, link);
  EXPECT_TRUE(MetricMap::Load(link).ok());
}

// The latent dimension, given or read from the map, is 1..1,000,000 (kMaxLatentDim):
// negative used to mean "infer" silently, and 2,000,000,000 allocated a 16 GB probe
// batch before failing.
TEST(MetricMap, LatentDimensionIsBounded) {
  const std::string mlp = MlpMapBytes(3, 4, 5, 1);
  MetricMapOptions o;
  o.input_dim = -1;
  auto negative = MetricMap::FromBytes(mlp, o);
  ASSERT_EQ(negative.status().code(), StatusCode::kInvalidArgument) << negative.status().ToString();
  EXPECT_NE(negative.status().message().find("-1"), std::string::npos) << negative.status().message();
  // Any width works for this map: only the bound refuses it.
  auto attr = MetricMap::FromBytes(ModuleBytes("  return x * 2.0\n", 1000001));
  ASSERT_EQ(attr.status().code(), StatusCode::kInvalidArgument) << attr.status().ToString();
  EXPECT_NE(attr.status().message().find("1000000"), std::string::npos) << attr.status().message();
  o.input_dim = 2000000000;
  auto huge = MetricMap::FromBytes(mlp, o);
  ASSERT_EQ(huge.status().code(), StatusCode::kInvalidArgument) << huge.status().ToString();
  EXPECT_NE(huge.status().message().find("2000000000"), std::string::npos) << huge.status().message();
  auto at_cap = MetricMap::FromBytes(ModuleBytes("  return x[:, :2]\n", 1000000));
  EXPECT_TRUE(at_cap.ok()) << at_cap.status().ToString();
}

// A map that raises is bad input (InvalidArgument, exit 2 in the tool), with its own message.
TEST(MetricMap, AMapThatRaisesIsInvalidArgument) {
  auto map = MetricMap::FromBytes(ModuleBytes(
      "  assert bool(torch.all(x <= 5.0)), 'latents out of the decoder range'\n"
      "  return x * 2.0\n",
      2));
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  auto enc = RelativeEncoder::Create(*map, Matrix(1, 2, std::vector<float>{0.f, 0.f}), {});
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto r = (*enc)->Encode(Matrix(1, 2, std::vector<float>{9.f, 9.f}));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("latents out of the decoder range"), std::string::npos) << r.status().message();
}

// Errors keep their code on the way out of GuardTorch (and InTorchScope, which the
// encoder runs under): a Status thrown as internal::StatusError comes out with its
// own code (an Internal or IOError stays that, an InvalidArgument stays that);
// LibTorch's errors are the map refusing its input (InvalidArgument); running out
// of memory is Internal.
TEST(GuardTorch, KeepsTheCodeOfWhatWasThrown) {
  for (const Status& thrown : {Status::Internal("dnnl_sgemm failed"), Status::IOError("disk gone"),
                               Status::InvalidArgument("bad latents"), Status::NotFound("no such map")}) {
    for (int scope = 0; scope < 2; ++scope) {
      auto fn = [&] { throw internal::StatusError(thrown); };
      const Status got = scope == 0 ? GuardTorch("encoding", fn) : internal::InTorchScope("encoding", fn);
      EXPECT_EQ(got.code(), thrown.code()) << got.ToString();
      EXPECT_EQ(got.message(), "encoding: " + thrown.message());
    }
  }
  const Status c10 = GuardTorch("forward", [] { TORCH_CHECK(false, "shape [2, 3] is invalid"); });
  EXPECT_EQ(c10.code(), StatusCode::kInvalidArgument) << c10.ToString();
  EXPECT_NE(c10.message().find("shape [2, 3] is invalid"), std::string::npos) << c10.message();
  const Status oom = GuardTorch("forward", [] { throw std::bad_alloc(); });
  EXPECT_EQ(oom.code(), StatusCode::kInternal) << oom.ToString();
  EXPECT_NE(oom.message().find("out of memory"), std::string::npos) << oom.message();
  EXPECT_TRUE(GuardTorch("nothing", [] {}).ok());
}

}  // namespace
}  // namespace relgeo
