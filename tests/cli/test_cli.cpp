// The relgeo tool end to end on a small database: train two tiny autoencoders,
// register, index, search across models, remove, reopen; error paths (missing
// files, bad flags, unknown names, NaN input leaves the database unchanged); and
// the README's C++ example, which must be the file compiled here.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <set>
#include <thread>
#include <vector>

#include <torch/version.h>

#include <Eigen/Core>

#include "fixtures.h"
#include "relgeo/autoencoder.h"
#include "relgeo/datasets.h"
#include "relgeo/npy.h"

namespace relgeo {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct CmdResult {
  int rc = -1;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

CmdResult Exec(const std::string& program, const std::string& args) {
  static int counter = 0;
  const std::string base = testing::TempDir() + "/cli_" + std::to_string(counter++);
  const std::string cmd = program + " " + args + " > " + base + ".out 2> " + base + ".err";
  CmdResult r;
  const int status = std::system(cmd.c_str());
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.out = Slurp(base + ".out");
  r.err = Slurp(base + ".err");
  return r;
}
CmdResult Relgeo(const std::string& args) { return Exec(RELGEO_CLI_PATH, "-q " + args); }

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = testing::TempDir() + "/cli_e2e";
    fs::remove_all(work_);
    fs::create_directories(work_);
    if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) return;
    for (int seed : {1, 2}) {
      CmdResult r = Relgeo("train-ae --arch mlp --latent-dim 16 --epochs 2 --train-limit 2000 --eval-limit 300 --seed " +
                     std::to_string(seed) + " --out " + work_ + "/ae" + std::to_string(seed));
      ASSERT_EQ(r.rc, 0) << r.err;
    }
    ready_ = true;
  }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  static std::string Ae(int seed, const std::string& file) { return work_ + "/ae" + std::to_string(seed) + "/" + file; }
  static inline std::string work_;
  static inline bool ready_ = false;
};

json Info(const std::string& db) {
  CmdResult r = Relgeo("info --db " + db + " --json");
  EXPECT_EQ(r.rc, 0) << r.err;
  return json::parse(r.out);
}

TEST_F(CliTest, RegisterIndexSearchRemoveReopen) {
  const std::string db = work_ + "/db";
  // Anchors: validation rows 0..19, with each model's latents of those rows.
  const int64_t K = 20;
  std::vector<int64_t> ids(K);
  for (int64_t i = 0; i < K; ++i) ids[i] = i;
  ASSERT_TRUE(WriteNpyInt64(work_ + "/anchor_ids.npy", ids).ok());
  for (int seed : {1, 2}) {
    Matrix val = *ReadNpyMatrix(Ae(seed, "z_val.npy"));
    ASSERT_TRUE(WriteNpyMatrix(Ae(seed, "anchors.npy"), val.view().RowSlice(0, K)).ok());
  }
  ASSERT_EQ(Relgeo("anchors create --db " + db + " --name S --ids " + work_ + "/anchor_ids.npy").rc, 0);
  for (auto [name, seed] : {std::pair{"A", 1}, std::pair{"B", 2}}) {
    CmdResult r = Relgeo(std::string("model register --db ") + db + " --name " + name + " --map " + Ae(seed, "decoder.pt") +
                   " --encoder " + Ae(seed, "encoder.pt") + " --anchor-set S --anchor-latents " + Ae(seed, "anchors.npy"));
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  ASSERT_EQ(Relgeo("collection create --db " + db + " --name C --anchor-set S --index Flat --steps 6").rc, 0);
  CmdResult idx = Relgeo("index --db " + db + " --collection C --model A --latents " + Ae(1, "z_test.npy"));
  ASSERT_EQ(idx.rc, 0) << idx.err;
  json info = Info(db);
  ASSERT_EQ(info["collections"].size(), 1u);
  EXPECT_EQ(info["collections"][0]["items"], 300);
  EXPECT_EQ(info["models"].size(), 2u);

  // Same-model queries find each item itself; cross-model queries (B) mostly do.
  auto top_hits = [&](const std::string& model, int seed, int64_t k) {
    CmdResult r = Relgeo("search --db " + db + " --collection C --model " + model + " --latents " + Ae(seed, "z_test.npy") +
                   " --k " + std::to_string(k) + " --json");
    EXPECT_EQ(r.rc, 0) << r.err;
    json res = json::parse(r.out)["results"];
    EXPECT_EQ(res.size(), 300u);
    int64_t hits = 0;
    for (size_t q = 0; q < res.size(); ++q) {
      const auto& ids_q = res[q]["ids"];
      const auto& scores_q = res[q]["scores"];
      EXPECT_EQ(ids_q.size(), static_cast<size_t>(k));
      for (size_t j = 1; j < scores_q.size(); ++j) EXPECT_GE(scores_q[j - 1].get<double>(), scores_q[j].get<double>());
      for (const auto& id : ids_q) hits += id.get<int64_t>() == static_cast<int64_t>(q);
    }
    return hits;
  };
  EXPECT_EQ(top_hits("A", 1, 1), 300);
  const int64_t cross10 = top_hits("B", 2, 10);
  EXPECT_GT(cross10, 300 / 3) << "model B's queries should find model A's items far above chance (10/300)";

  // Remove ten ids; they never come back, and the count survives reopening.
  std::vector<int64_t> gone = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ASSERT_TRUE(WriteNpyInt64(work_ + "/gone.npy", gone).ok());
  ASSERT_EQ(Relgeo("remove --db " + db + " --collection C --ids " + work_ + "/gone.npy").rc, 0);
  EXPECT_EQ(Info(db)["collections"][0]["items"], 290);
  CmdResult s = Relgeo("search --db " + db + " --collection C --model A --latents " + Ae(1, "z_test.npy") + " --k 5 --json");
  ASSERT_EQ(s.rc, 0);
  // The parsed document is kept alive for the loop: ranging over a member of the
  // temporary json::parse(...) would iterate a destroyed object.
  const json after_remove = json::parse(s.out);
  for (const auto& row : after_remove.at("results"))
    for (const auto& id : row.at("ids")) EXPECT_GE(id.get<int64_t>(), 10);

  // Bad input: clear one-line errors, non-zero exit codes, the database unchanged.
  Matrix z = *ReadNpyMatrix(Ae(1, "z_test.npy"));
  z(5, 3) = std::nanf("");
  ASSERT_TRUE(WriteNpyMatrix(work_ + "/nan.npy", z).ok());
  CmdResult nan = Relgeo("index --db " + db + " --collection C --model A --latents " + work_ + "/nan.npy");
  EXPECT_NE(nan.rc, 0);
  EXPECT_NE(nan.err.find("non-finite"), std::string::npos) << nan.err;
  EXPECT_EQ(nan.err.find('\n'), nan.err.size() - 1) << "one line: " << nan.err;
  EXPECT_EQ(Info(db)["collections"][0]["items"], 290);

  CmdResult unknown = Relgeo("search --db " + db + " --collection C --model Z --latents " + Ae(1, "z_test.npy"));
  EXPECT_EQ(unknown.rc, 3) << unknown.err;
  EXPECT_NE(unknown.err.find("Z"), std::string::npos);
  CmdResult dup = Relgeo("model register --db " + db + " --name A --map " + Ae(1, "decoder.pt"));
  EXPECT_NE(dup.rc, 0);
  CmdResult wrong_dim = Relgeo("search --db " + db + " --collection C --model A --latents " + work_ + "/anchor_ids.npy");
  EXPECT_NE(wrong_dim.rc, 0);
  CmdResult missing = Relgeo("index --db " + db + " --collection C --model A --latents " + work_ + "/missing.npy");
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("missing.npy"), std::string::npos);
  CmdResult bad_flag = Relgeo("search --db " + db + " --frobnicate");
  EXPECT_EQ(bad_flag.rc, 2);
  EXPECT_NE(bad_flag.err.find("relgeo: error:"), std::string::npos);
  CmdResult no_command = Relgeo("");
  EXPECT_NE(no_command.rc, 0);
  EXPECT_EQ(Info(db)["collections"][0]["items"], 290);

  // encode: relgeo and cosine through the tool, shapes and values.
  CmdResult enc = Relgeo("encode --map " + Ae(1, "decoder.pt") + " --anchor-latents " + Ae(1, "anchors.npy") + " --latents " +
                   Ae(1, "z_test.npy") + " --out " + work_ + "/r.npy --steps 6");
  ASSERT_EQ(enc.rc, 0) << enc.err;
  Matrix r = *ReadNpyMatrix(work_ + "/r.npy");
  EXPECT_EQ(r.rows(), 300);
  EXPECT_EQ(r.cols(), K);
  for (float v : r.storage()) EXPECT_GE(v, 0.0f);
  // The trained MLP decoder takes the fast path with the sign split; --plain and
  // --no-sign-split give the same values; a bad --precision is a usage error.
  const std::string base = "encode --map " + Ae(1, "decoder.pt") + " --anchor-latents " + Ae(1, "anchors.npy") +
                           " --latents " + Ae(1, "z_test.npy") + " --steps 6 --show-plan --out " + work_;
  CmdResult fast = Relgeo(base + "/r_fast.npy");
  ASSERT_EQ(fast.rc, 0) << fast.err;
  EXPECT_NE(fast.err.find("execution plan: affine aten::addmm"), std::string::npos) << fast.err;
  EXPECT_NE(fast.err.find("relu sign split"), std::string::npos) << fast.err;
  for (const char* flag : {" --plain", " --no-sign-split"}) {
    CmdResult other = Relgeo(base + "/r_other.npy" + flag);
    ASSERT_EQ(other.rc, 0) << other.err;
    EXPECT_EQ(other.err.find("sign split"), std::string::npos) << flag << " " << other.err;
    Matrix a = *ReadNpyMatrix(work_ + "/r_fast.npy"), b = *ReadNpyMatrix(work_ + "/r_other.npy");
    ASSERT_EQ(a.size(), b.size());
    for (int64_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a.data()[i], b.data()[i], 1e-5 * (1 + std::abs(b.data()[i]))) << flag;
  }
  CmdResult bad_precision = Relgeo(base + "/r_bad.npy --precision fp8");
  EXPECT_NE(bad_precision.rc, 0);
  EXPECT_NE(bad_precision.err.find("fp8"), std::string::npos) << bad_precision.err;
}

// Needs no data: runs whether or not Fashion-MNIST is installed.
// embed encodes and writes 8,192 images at a time: the test split's 10,000 are two
// blocks, and the file is the one encoding them all at once gives.
TEST_F(CliTest, EmbedStreamsBlocksIdenticalToOneEncoding) {
  const std::string out = work_ + "/embed_test.npy";
  CmdResult r = Relgeo("embed --encoder " + Ae(1, "encoder.pt") + " --split test --out " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  auto test = LoadFashionMnist(DataSplit::kTest);
  ASSERT_TRUE(test.ok());
  ASSERT_GT(test->size(), 8192);
  auto want = EncodeImages(Ae(1, "encoder.pt"), test->ToMatrix());
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto got = ReadNpyMatrix(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->rows(), want->rows());
  ASSERT_EQ(got->cols(), want->cols());
  for (int64_t i = 0; i < got->size(); ++i) ASSERT_NEAR(got->data()[i], want->data()[i], 1e-5f) << i;
}

TEST(Cli, HelpEverywhere) {
  for (const char* cmd : {"", "encode", "demo", "index", "search", "model register", "collection create", "info",
                          "train-ae", "eval mrr"}) {
    CmdResult r = Relgeo(std::string(cmd) + " --help");
    EXPECT_EQ(r.rc, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, ReadmeShowsTheExampleVerbatim) {
  const std::string readme = Slurp(RELGEO_SOURCE_DIR "/README.md");
  std::string example = Slurp(RELGEO_SOURCE_DIR "/tests/readme_example.cpp");
  ASSERT_FALSE(example.empty());
  EXPECT_NE(readme.find(example), std::string::npos) << "README's C++ example differs from tests/readme_example.cpp";
}

// The example trains on nothing itself but reads the two autoencoders trained from
// Fashion-MNIST in SetUpTestSuite.
TEST_F(CliTest, ReadmeExampleRuns) {
  CmdResult r = Exec(RELGEO_README_EXAMPLE_PATH, work_ + "/example_db " + work_ + "/ae1 " + work_ + "/ae2");
  ASSERT_EQ(r.rc, 0) << r.err;
  long long found = -1, total = -1;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "top-10 cross-model hits: %lld of %lld", &found, &total), 2) << r.out;
  EXPECT_EQ(total, 300);
  EXPECT_GT(found, 100);
}

// Every anchor flag has one meaning (--anchor-set NAME, --anchor-latents FILE,
// --anchor-count N, --anchor-counts LIST); the old --anchors spelling still works
// as a second name of each, and --help shows it only in that role. Needs no data.
TEST(Cli, AnchorFlagsHaveOneMeaningAndTheOldSpellingStillWorks) {
  const std::string t = testing::TempDir() + "/grammar";
  fs::create_directories(t);
  const std::string map = testing::WriteTempFile("grammar_map.pt", testing::MlpMapBytes(4, 8, 6, 1));
  ASSERT_TRUE(WriteNpyMatrix(t + "/a.npy", testing::RandomMatrix(5, 4, 2)).ok());
  ASSERT_TRUE(WriteNpyMatrix(t + "/z.npy", testing::RandomMatrix(7, 4, 3)).ok());
  const std::string enc = "encode --map " + map + " --latents " + t + "/z.npy --steps 4 --out ";
  CmdResult now = Relgeo(enc + t + "/r_new.npy --anchor-latents " + t + "/a.npy");
  CmdResult old = Relgeo(enc + t + "/r_old.npy --anchors " + t + "/a.npy");
  ASSERT_EQ(now.rc, 0) << now.err;
  ASSERT_EQ(old.rc, 0) << old.err;
  EXPECT_EQ(Slurp(t + "/r_new.npy"), Slurp(t + "/r_old.npy"));

  const std::string db = " --db " + t + "/db";
  ASSERT_EQ(Relgeo("anchors create" + db + " --name S --count 5").rc, 0);
  CmdResult reg_new = Relgeo("model register" + db + " --name A --map " + map + " --anchor-set S --anchor-latents " + t + "/a.npy");
  CmdResult reg_old = Relgeo("model register" + db + " --name B --map " + map + " --anchors S --anchor-latents " + t + "/a.npy");
  EXPECT_EQ(reg_new.rc, 0) << reg_new.err;
  EXPECT_EQ(reg_old.rc, 0) << reg_old.err;
  EXPECT_EQ(Relgeo("collection create" + db + " --name C --anchor-set S").rc, 0);
  EXPECT_EQ(Relgeo("collection create" + db + " --name D --anchors S").rc, 0);

  for (const char* cmd : {"encode", "demo", "eval mrr", "stitch ae", "stitch classify", "model register", "model attach",
                          "collection create", "eval geodesic", "train-ae"}) {
    const std::string help = Relgeo(std::string(cmd) + " --help").out;
    ASSERT_NE(help.find("Usage"), std::string::npos) << cmd;
    for (const char* old_name : {"--anchors", "--count", "--latent"}) {
      for (size_t at = help.find(old_name); at != std::string::npos; at = help.find(old_name, at + 1)) {
        const char after = at + std::strlen(old_name) < help.size() ? help[at + std::strlen(old_name)] : ' ';
        if (after == '-' || std::isalnum(static_cast<unsigned char>(after))) continue;  // --latent-dim, --counts
        if (std::string(cmd) == "model register" && std::string(old_name) == "--count") continue;
        // Allowed: "--new,--old" (the option's second name) and "(--old: the older spelling ...".
        const bool alias = at > 0 && help[at - 1] == ',';
        const bool note = at > 0 && help[at - 1] == '(' && after == ':';
        EXPECT_TRUE(alias || note) << cmd << ": " << old_name << " appears other than as an alias:\n" << help;
      }
    }
  }
}

// Off a terminal (here: stderr is a file) progress is a line at the start, at most
// one per RELGEO_PROGRESS_INTERVAL seconds (default 10), and one at the end.
TEST(Cli, ProgressOffATerminalIsAStartLineAnEndLineAndFewInBetween) {
  const std::string t = testing::TempDir() + "/progress";
  fs::create_directories(t);
  const std::string map = testing::WriteTempFile("progress_map.pt", testing::MlpMapBytes(4, 8, 6, 1));
  ASSERT_TRUE(WriteNpyMatrix(t + "/a.npy", testing::RandomMatrix(5, 4, 2)).ok());
  ASSERT_TRUE(WriteNpyMatrix(t + "/z.npy", testing::RandomMatrix(4096, 4, 3)).ok());  // 16 chunks of 256 rows
  const std::string args = "encode --map " + map + " --anchor-latents " + t + "/a.npy --latents " + t +
                           "/z.npy --steps 4 --out " + t + "/r.npy";
  auto progress_lines = [](const std::string& err) {
    std::vector<std::string> lines;
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("encode:", 0) == 0) lines.push_back(line);
    return lines;
  };
  CmdResult quiet_log = Exec(RELGEO_CLI_PATH, args);
  ASSERT_EQ(quiet_log.rc, 0) << quiet_log.err;
  EXPECT_EQ(quiet_log.err.find('\r'), std::string::npos) << "no carriage returns in a log";
  auto lines = progress_lines(quiet_log.err);
  ASSERT_EQ(lines.size(), 2u) << quiet_log.err;
  EXPECT_NE(lines[0].find("started, 4096 rows"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("done, 4096 rows in"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("rows/s"), std::string::npos) << lines[1];

  CmdResult every_update = Exec(std::string("RELGEO_PROGRESS_INTERVAL=0 ") + RELGEO_CLI_PATH, args);
  ASSERT_EQ(every_update.rc, 0) << every_update.err;
  EXPECT_GE(progress_lines(every_update.err).size(), 10u) << every_update.err;
  EXPECT_TRUE(Exec(RELGEO_CLI_PATH, "-q " + args).err.find("encode:") == std::string::npos);
}

TEST(Cli, VersionNamesTheLibrariesOfThisBuild) {
  CmdResult r = Exec(RELGEO_CLI_PATH, "version --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("relgeo").get<std::string>(), RELGEO_PROJECT_VERSION);
  EXPECT_EQ(j.at("libtorch").get<std::string>(), TORCH_VERSION);
  EXPECT_EQ(j.at("eigen").get<std::string>(), std::to_string(EIGEN_WORLD_VERSION) + "." +
                                                  std::to_string(EIGEN_MAJOR_VERSION) + "." +
                                                  std::to_string(EIGEN_MINOR_VERSION));
  EXPECT_FALSE(j.at("faiss").get<std::string>().empty());
  EXPECT_FALSE(j.at("rocksdb").get<std::string>().empty());
  EXPECT_TRUE(j.at("cuda").is_boolean());
  EXPECT_EQ(j.at("cuda_devices").get<int>(), 0) << "no GPU on the test machines";
  // .pt2 packages on the PyTorch 2.x (venv) build, TorchScript on every build.
  std::set<std::string> formats;
  for (const auto& f : j.at("map_formats")) formats.insert(f.get<std::string>());
  EXPECT_EQ(formats.count("torchscript"), 1u);
  EXPECT_EQ(formats.count("pt2"), TORCH_VERSION_MAJOR >= 2 ? 1u : 0u);
  bool has_avx512 = false;
  for (const auto& f : j.at("cpu_features")) has_avx512 |= f.get<std::string>() == "avx512f";
  EXPECT_EQ(has_avx512, __builtin_cpu_supports("avx512f") != 0);
  CmdResult text = Exec(RELGEO_CLI_PATH, "version");
  EXPECT_EQ(text.rc, 0);
  EXPECT_EQ(text.out.rfind("relgeo " RELGEO_PROJECT_VERSION, 0), 0u) << text.out;
}

// encode's numbers are bounded and the error names the flag given (--steps 0 once
// blamed the encoder, --memory-mb 0 the memory budget); --threads is checked; the
// output is written completely or not at all. Runs with a 4 GB address space and
// 60 s, so a missing limit fails here instead of taking the machine. Needs no data.
TEST(Cli, EncodeLimitsNameTheFlagAndOutputIsAllOrNothing) {
  const std::string t = testing::TempDir() + "/encode_limits";
  fs::remove_all(t);
  fs::create_directories(t);
  const std::string map = testing::WriteTempFile("limits_map.pt", testing::MlpMapBytes(4, 8, 6, 1));
  ASSERT_TRUE(WriteNpyMatrix(t + "/a.npy", testing::RandomMatrix(5, 4, 2)).ok());
  ASSERT_TRUE(WriteNpyMatrix(t + "/z.npy", testing::RandomMatrix(7, 4, 3)).ok());
  ASSERT_TRUE(WriteNpyMatrix(t + "/big_z.npy", testing::RandomMatrix(20000, 4, 4)).ok());
  const std::string bounded = std::string("ulimit -v 4000000; timeout 60 ") + RELGEO_CLI_PATH;
  const std::string inputs = " --anchor-latents " + t + "/a.npy --latents " + t + "/z.npy";
  const std::string base = "encode --map " + map + inputs + " --steps 4 --out " + t + "/r.npy";
  auto usage = [&](const std::string& args, const std::string& flag) {
    CmdResult r = Exec(bounded, "-q " + args);
    EXPECT_EQ(r.rc, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(flag), std::string::npos) << args << ": the message does not name " << flag << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  };
  usage(base + " --steps 0", "--steps");
  usage(base + " --steps -2", "--steps");
  usage(base + " --steps 1000000000", "--steps");
  usage(base + " --memory-mb 0", "--memory-mb");
  usage(base + " --memory-mb -5", "--memory-mb");
  usage(base + " --memory-mb nan", "--memory-mb");
  usage(base + " --memory-mb 1e300", "--memory-mb");
  usage(base + " --latent-dim -1", "--latent-dim");
  usage(base + " --latent-dim 0", "--latent-dim");
  usage(base + " --latent-dim 2000000000", "--latent-dim");
  usage("--threads -4 " + base, "--threads");
  usage("encode --map /dev/zero" + inputs + " --out " + t + "/r.npy", "not a regular file");
  usage("encode --method cosine --map " + map + inputs + " --steps 0 --out " + t + "/r.npy", "--steps");

  // A full device: exit 1, naming it, and no "wrote" line.
  CmdResult full = Exec(bounded, base.substr(0, base.size() - (t + "/r.npy").size()) + "/dev/full");
  EXPECT_EQ(full.rc, 1) << full.err;
  EXPECT_NE(full.err.find("/dev/full"), std::string::npos) << full.err;
  EXPECT_EQ(full.err.find("wrote"), std::string::npos) << full.err;
  // A write that fails part-way (a 50 KB file-size limit, SIGXFSZ ignored) keeps the
  // previous file and leaves no temporary beside it.
  ASSERT_EQ(Exec(bounded, "-q " + base).rc, 0);
  const std::string before = Slurp(t + "/r.npy");
  CmdResult cut = Exec("trap '' XFSZ; ulimit -f 100; " + bounded,
                       "-q encode --map " + map + " --anchor-latents " + t + "/a.npy --latents " + t +
                           "/big_z.npy --steps 2 --out " + t + "/r.npy");
  EXPECT_EQ(cut.rc, 1) << cut.err;
  EXPECT_NE(cut.err.find(t + "/r.npy"), std::string::npos) << cut.err;
  EXPECT_EQ(Slurp(t + "/r.npy"), before);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(t)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.npy", "big_z.npy", "r.npy", "z.npy"}));
}

// Every flag that sizes training or evaluation work has a bound (docs/cli.md
// "Limits"): out of range is a one-line usage error naming the flag, exit 2,
// before any file is read or any data loaded.
TEST(Cli, WorkSizingFlagsAreBounded) {
  const std::string t = testing::TempDir() + "/work_limits";
  fs::remove_all(t);
  fs::create_directories(t);
  const std::string map = testing::WriteTempFile("work_limits_map.pt", testing::MlpMapBytes(4, 8, 6, 1));
  const std::string z = t + "/z.npy", y = t + "/y.npy";
  ASSERT_TRUE(WriteNpyMatrix(z, testing::RandomMatrix(7, 4, 3)).ok());
  ASSERT_TRUE(WriteNpyInt64(y, std::vector<int64_t>(7, 1)).ok());
  const std::string bounded = std::string("ulimit -v 4000000; timeout 60 ") + RELGEO_CLI_PATH;
  auto usage = [&](const std::string& args, const std::string& flag) {
    CmdResult r = Exec(bounded, "-q " + args);
    EXPECT_EQ(r.rc, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(flag + " must be in ["), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  };
  const std::string mrr = "eval mrr --a-latents " + z + " --b-latents " + z + " --methods cosine";
  usage(mrr + " --draws 0", "--draws");
  usage(mrr + " --draws 1000000000", "--draws");
  usage(mrr + " --k 0", "--k");
  usage(mrr + " --k 1000000000", "--k");
  usage(mrr + " --limit -1", "--limit");
  usage(mrr + " --relgeo-max-anchors -1", "--relgeo-max-anchors");
  CmdResult counts = Exec(bounded, "-q " + mrr + " --anchor-counts 5,2000000000");
  EXPECT_EQ(counts.rc, 2) << counts.err;
  EXPECT_NE(counts.err.find("--anchor-counts"), std::string::npos) << counts.err;
  const std::string geo = "eval geodesic --map " + map + " --latents " + z;
  usage(geo + " --limit 1", "--limit");
  usage(geo + " --limit 100000000", "--limit");
  usage(geo + " --sweep-count 100000000", "--sweep-count");
  usage(geo + " --per-class -3", "--per-class");
  usage(geo + " --iterations 2000000000", "--iterations");
  usage(geo + " --refine 0", "--refine");
  usage(geo + " --refine 100000", "--refine");
  const std::string heads = "heads train --latents " + z + " --labels " + y + " --out " + t + "/h.pt";
  usage(heads + " --hidden 0", "--hidden");
  usage(heads + " --hidden 100000000", "--hidden");
  usage(heads + " --batch 0", "--batch");
  usage(heads + " --batch 100000000", "--batch");
  usage(heads + " --epochs 2000000000", "--epochs");
  usage(heads + " --kind diet --points 1", "--points");
  usage(heads + " --kind diet --points 100000000000", "--points");
  const std::string ae = "stitch ae --a-map " + map + " --a-latents " + z + " --b-map " + map + " --b-latents " + z +
                         " --images " + z;
  usage(ae + " --anchor-count 0", "--anchor-count");
  usage(ae + " --anchor-count 100000000000", "--anchor-count");
  usage(ae + " --grid-rows 100000000", "--grid-rows");
  usage(ae + " --limit -1", "--limit");
  const std::string clf = "stitch classify --a-pool " + z + " --b-pool " + z + " --a-train " + z + " --train-labels " + y +
                          " --b-test " + z + " --test-labels " + y;
  usage(clf + " --heads 0", "--heads");
  usage(clf + " --heads 100000000", "--heads");
  usage(clf + " --epochs 2000000000", "--epochs");
  usage(clf + " --batch 1", "--batch");
  usage(clf + " --batch 100000000", "--batch");
  usage(clf + " --anchor-count 0", "--anchor-count");
  usage("train-ae --out " + t + "/ae --epochs 0", "--epochs");
  usage("train-ae --out " + t + "/ae --batch 100000000", "--batch");
  usage("train-ae --out " + t + "/ae --train-limit -1", "--train-limit");
  usage("embed --encoder " + map + " --out " + t + "/e.npy --limit -1", "--limit");
  usage("stitch images --out " + t + "/i.npy --limit -1", "--limit");
  usage("demo --work " + t + "/demo --items -5", "--items");
  usage("demo --work " + t + "/demo --items 20000", "--items");
  usage("demo --work " + t + "/demo --epochs 0", "--epochs");
  usage("demo --work " + t + "/demo --anchor-count 0", "--anchor-count");
  usage("demo --work " + t + "/demo --steps 0", "--steps");
  usage("demo --work " + t + "/demo --sweep-items 0", "--sweep-items");
  EXPECT_FALSE(fs::exists(t + "/ae"));
}

// The process is gone or a zombie (a dead child nobody has reaped yet).
bool ProcessEnded(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

// Waits up to `seconds` for pred().
template <typename Pred>
bool WaitFor(Pred pred, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// `relgeo demo text` killed while its embedding script runs takes the script with
// it (the script here records its pid and sleeps; --python /bin/sh runs it).
TEST(Cli, DemoTextKilledStopsItsEmbeddingChild) {
  const std::string t = testing::TempDir() + "/cli_demo_text_kill";
  fs::remove_all(t);
  fs::create_directories(t);
  const std::string script = t + "/embed.sh", child_pid_file = t + "/child.pid", tool_pid_file = t + "/tool.pid";
  {
    std::ofstream s(script);
    s << "echo $$ > " << child_pid_file << ".part && mv " << child_pid_file << ".part " << child_pid_file
      << "\nexec sleep 300\n";
  }
  ASSERT_EQ(std::system((std::string(RELGEO_CLI_PATH) + " -q demo text --work " + t + "/work --python /bin/sh --script " +
                         script + " > /dev/null 2>&1 & echo $! > " + tool_pid_file)
                            .c_str()),
            0);
  ASSERT_TRUE(WaitFor([&] { return fs::exists(tool_pid_file) && fs::file_size(tool_pid_file) > 0; }, 10));
  const pid_t tool = std::stoi(Slurp(tool_pid_file));
  if (!WaitFor([&] { return fs::exists(child_pid_file); }, 60)) {
    ::kill(tool, SIGKILL);
    FAIL() << "the embedding script did not start";
  }
  const pid_t child = std::stoi(Slurp(child_pid_file));
  ASSERT_FALSE(ProcessEnded(child));
  ASSERT_EQ(::kill(tool, SIGKILL), 0);
  const bool ended = WaitFor([&] { return ProcessEnded(child); }, 10);
  if (!ended) ::kill(child, SIGKILL);
  EXPECT_TRUE(ended) << "the embedding child outlived relgeo";
}

}  // namespace
}  // namespace relgeo
