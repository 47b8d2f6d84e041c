// relgeo version: relgeo's version and what this build is made of.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "relgeo/version.h"

namespace relgeo::cli {
namespace {

void RunVersion(bool json) {
  const BuildInfo b = GetBuildInfo();
  if (json) {
    nlohmann::json j = {{"relgeo", b.relgeo}, {"libtorch", b.libtorch},         {"faiss", b.faiss},
                        {"rocksdb", b.rocksdb}, {"eigen", b.eigen},              {"cpu_features", b.cpu_features},
                        {"map_formats", b.map_formats},
                        {"cuda", b.cuda},       {"cuda_devices", b.cuda_devices}};
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& f : v) out += (out.empty() ? "" : " ") + f;
    return out.empty() ? std::string("none") : out;
  };
  std::printf("relgeo %s\n  LibTorch %s (CUDA %s, %d device%s visible)\n  FAISS %s\n  RocksDB %s\n  Eigen %s\n"
              "  map formats: %s\n  CPU features used by the fast paths: %s\n",
              b.relgeo.c_str(), b.libtorch.c_str(), b.cuda ? "yes" : "no", b.cuda_devices, b.cuda_devices == 1 ? "" : "s",
              b.faiss.c_str(), b.rocksdb.c_str(), b.eigen.c_str(), joined(b.map_formats).c_str(),
              joined(b.cpu_features).c_str());
}

void RegisterVersion(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand("version", "relgeo's version and the versions of the libraries it is built on");
  c->footer("Example:\n  relgeo version --json");
  c->add_flag("--json", *json, "Print one JSON document");
  c->callback([json] { RunVersion(*json); });
}

const bool registered = RegisterCommand(99, RegisterVersion);

}  // namespace
}  // namespace relgeo::cli
