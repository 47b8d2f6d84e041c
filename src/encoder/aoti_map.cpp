// Metric maps from torch.export + AOTInductor packages (docs/design.md §4.10).
#include "encoder/aoti_map.h"

#include <stdlib.h>  // mkdtemp
#include <torch/version.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <regex>
#include <streambuf>

#include "encoder/torch_internal.h"
#include "relgeo/file_io.h"
#include "util/status_error.h"

#if __has_include(<torch/csrc/inductor/aoti_package/model_package_loader.h>)
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#define RELGEO_HAVE_AOTI 1
#else
#define RELGEO_HAVE_AOTI 0
#endif

namespace relgeo {

#if RELGEO_HAVE_AOTI

struct AotiPackage {
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  torch::Device device{torch::kCPU};
  int64_t input_dim = 0;
  int64_t min_batch = 1;     // a dynamic batch exported by torch.export starts at 2
  int64_t static_batch = 0;  // > 0: the package was exported for exactly this many rows
};

namespace {

// AOTInductor checks a call's input shapes only when AOTI_RUNTIME_CHECK_INPUTS is
// set (each package reads it once); without the checks a wrong width reads out of
// bounds. relgeo always turns them on, before the first package runs.
void EnableAotiInputChecks() {
  static std::once_flag once;
  std::call_once(once, [] { setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", /*overwrite=*/1); });
}

// The loader reads a package from a file. It gets the very bytes relgeo checked
// (InspectMapArchive), not the user's file again, which could have changed since:
// they go to a private temporary directory, removed as soon as the loader has
// unpacked the package into its own.
class TempPackageFile {
 public:
  Status Write(const std::string& bytes) {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/relgeo-map-XXXXXX";
    if (!mkdtemp(dir.data())) return Status::IOError("cannot create a temporary directory for the .pt2 package: " + dir);
    dir_ = dir;
    path_ = dir_ + "/map.pt2";
    return WriteFileAtomically(path_, {bytes});
  }
  const std::string& path() const { return path_; }
  ~TempPackageFile() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

 private:
  std::string dir_, path_;
};

std::vector<torch::Tensor> RunRaw(const AotiPackage& p, const torch::Tensor& x) {
  return p.loader->run({x.contiguous()});
}

// What an input check said about dimension `dim`: the exact size it wants, or the
// smallest it accepts. The messages are those of AOTInductor's generated checks.
struct ShapeHint {
  int64_t exact = 0;
  int64_t at_least = 0;
};
ShapeHint HintFor(const std::string& msg, int dim) {
  ShapeHint h;
  std::smatch m;
  const std::string d = std::to_string(dim);
  if (std::regex_search(msg, m, std::regex("unmatched dim value at " + d + ", expected: ([0-9]+)")))
    h.exact = std::stoll(m[1]);
  if (std::regex_search(msg, m, std::regex("dim value is too small at " + d + ", expected it to be >= ([0-9]+)")))
    h.at_least = std::stoll(m[1]);
  return h;
}

// The generated code prints each refused call on std::cerr before throwing; the probe's
// refusals are expected, so they are silenced (and the stream restored) around it.
class QuietCerr {
 public:
  QuietCerr() : saved_(std::cerr.rdbuf(&sink_)) {}
  ~QuietCerr() { std::cerr.rdbuf(saved_); }

 private:
  struct NullBuf : std::streambuf {
    int overflow(int c) override { return traits_type::not_eof(c); }
  } sink_;
  std::streambuf* saved_;
};

// Learns the latent width (unless given) and the batch rule from the package's own
// input checks: a few calls on zero batches, each refusal naming what it expected.
// Starts at one row: a dynamic batch's minimum (2 for torch.export's Dim) and a static
// batch size both show up in the first refusal.
Status ProbeShapes(AotiPackage& p, int64_t given_dim) {
  static std::mutex quiet_mutex;  // one std::cerr swap at a time
  std::lock_guard<std::mutex> quiet_lock(quiet_mutex);
  QuietCerr quiet;
  int64_t rows = 1, cols = given_dim > 0 ? given_dim : 1;
  std::string last_error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::string error;
    try {
      RunRaw(p, torch::zeros({rows, cols}, torch::TensorOptions().dtype(torch::kFloat32).device(p.device)));
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
    if (error.empty()) {
      p.input_dim = cols;
      break;
    }
    last_error = error;
    ShapeHint width = HintFor(error, 1), batch = HintFor(error, 0);
    if (width.exact > 0 && given_dim <= 0 && width.exact != cols) {
      cols = width.exact;
    } else if (batch.exact > 0 && batch.exact != rows) {
      rows = batch.exact;
      p.static_batch = rows;
    } else if (batch.at_least > rows) {
      rows = batch.at_least;
      p.min_batch = rows;
    } else {
      break;
    }
  }
  if (p.input_dim == 0) {
    std::string first = last_error.substr(0, last_error.find('\n'));
    return Status::InvalidArgument("the .pt2 package does not accept a (" + std::to_string(rows) + " x " +
                                   std::to_string(cols) + ") float batch: " + first +
                                   (given_dim > 0 ? "" : " (pass the latent dimension explicitly if it is not this)"));
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<AotiPackage>> LoadAotiPackage(const std::string& bytes, const torch::Device& device,
                                                     int64_t input_dim) {
  EnableAotiInputChecks();
  TempPackageFile file;
  RELGEO_RETURN_IF_ERROR(file.Write(bytes));
  auto p = std::make_shared<AotiPackage>();
  p->device = device;
  std::unordered_map<std::string, std::string> meta;
  Status st = GuardTorch("cannot load the AOTInductor package", [&] {
    meta = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(file.path(), "model");
  });
  RELGEO_RETURN_IF_ERROR(st);
  auto key = meta.find("AOTI_DEVICE_KEY");
  std::string compiled_for = key == meta.end() ? "cpu" : key->second;
  if (compiled_for != (device.is_cuda() ? "cuda" : "cpu"))
    return Status::InvalidArgument("the .pt2 package was compiled for device '" + compiled_for +
                                   "', but the map is loaded on '" + device.str() + "'");
  st = GuardTorch("cannot load the AOTInductor package", [&] {
    // Two runners: two threads (the encoder's callers, database readers) run the map
    // at once instead of queueing on one set of activation buffers.
    p->loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        file.path(), "model", /*run_single_threaded=*/false, /*num_runners=*/2,
        device.is_cuda() ? device.index() : c10::DeviceIndex(-1));
  });
  RELGEO_RETURN_IF_ERROR(st);
  RELGEO_RETURN_IF_ERROR(ProbeShapes(*p, input_dim));
  return p;
}

int64_t AotiInputDim(const AotiPackage& package) { return package.input_dim; }

torch::Tensor RunAotiPackage(const AotiPackage& p, const torch::Tensor& x) {
  const int64_t n = x.size(0);
  auto first = [](std::vector<torch::Tensor> outs) {
    if (outs.empty()) throw internal::StatusError(Status::InvalidArgument("the .pt2 package returned no outputs"));
    return outs[0];
  };
  // Pads `part` (1..rows rows) to `rows` rows by repeating its first row, runs it,
  // and keeps the outputs of the real rows.
  auto run_padded = [&](const torch::Tensor& part, int64_t rows) {
    const int64_t k = part.size(0);
    if (k == rows) return first(RunRaw(p, part));
    torch::Tensor pad = part.narrow(0, 0, 1).expand({rows - k, part.size(1)});
    return first(RunRaw(p, torch::cat({part, pad}, 0))).narrow(0, 0, k);
  };
  if (p.static_batch > 0) {
    std::vector<torch::Tensor> outs;
    for (int64_t s = 0; s < n; s += p.static_batch)
      outs.push_back(run_padded(x.narrow(0, s, std::min(p.static_batch, n - s)), p.static_batch));
    return torch::cat(outs, 0);
  }
  if (n < p.min_batch) return run_padded(x, p.min_batch);
  return first(RunRaw(p, x));
}

#else  // LibTorch without AOTInductor (Debian's 1.13)

struct AotiPackage {};

Result<std::shared_ptr<AotiPackage>> LoadAotiPackage(const std::string&, const torch::Device&, int64_t) {
  return Status::Unimplemented("this relgeo is built against LibTorch " TORCH_VERSION
                               ", which cannot run torch.export/AOTInductor packages (.pt2); build relgeo "
                               "with the default -DRELGEO_TORCH=venv (PyTorch >= 2.7), or save the map as TorchScript");
}
int64_t AotiInputDim(const AotiPackage&) { return 0; }
torch::Tensor RunAotiPackage(const AotiPackage&, const torch::Tensor&) {
  throw internal::StatusError(Status::Unimplemented("this LibTorch cannot run .pt2 packages"));
}

#endif

}  // namespace relgeo
