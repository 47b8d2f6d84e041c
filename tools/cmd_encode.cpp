// relgeo encode: latents (.npy) -> relative representations (.npy), streamed.
#include <functional>
#include <optional>

#include "cli_common.h"
#include "npy_input.h"
#include "relgeo/metric_map.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"

namespace relgeo::cli {
namespace {

struct EncodeArgs {
  std::string map, anchors, latents, out, mode = "length", distance = "euclidean", method = "relgeo";
  std::string precision = "fp32";
  bool plain = false, no_sign_split = false, show_plan = false;
  int steps = 8;
  int64_t latent_dim = 0;
  double budget_mb = 256;
};

// Latents are read and representations written a block of rows at a time
// (NpyReader, NpyMatrixWriter: header first, blocks appended, renamed into place at
// the end), so memory is bounded by the block whatever the file's size.
void RunEncode(const EncodeArgs& a, bool latent_dim_given) {
  // Every number first, each error naming its flag (before any file is read).
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  const int64_t budget_bytes = MemoryBudgetBytes("--memory-mb", a.budget_mb);
  if (latent_dim_given) CheckFlag<int64_t>("--latent-dim", a.latent_dim, 1, kMaxLatentDim, "latent dimension");
  Matrix anchors = OrDie(ReadNpyMatrix(a.anchors), "--anchor-latents");
  auto latents = OpenNpyOrDie(a.latents, "--latents");
  // One block's encoding: 256 rows keeps the progress bar moving on slow maps.
  std::function<Result<Matrix>(MatrixView)> encode;
  int64_t block_rows = 4096;
  std::optional<CosineEncoder> cosine;
  std::unique_ptr<RelativeEncoder> enc;
  if (a.method == "cosine") {
    cosine.emplace(OrDie(CosineEncoder::Create(anchors), "--anchor-latents"));
    encode = [&](MatrixView block) { return cosine->Encode(block); };
  } else if (a.method == "relgeo") {
    if (a.map.empty()) throw CommandError{Status::InvalidArgument("--map is required with --method relgeo")};
    MetricMapOptions mo;
    mo.distance = OrDie(ParseOutputDistance(a.distance), "--distance");
    mo.input_dim = latent_dim_given ? a.latent_dim : anchors.cols();
    auto map = OrDie(MetricMap::Load(a.map, mo), "--map");
    EncoderOptions eo;
    eo.steps = a.steps;
    eo.mode = OrDie(ParsePathMode(a.mode), "--mode");
    eo.memory_budget_bytes = budget_bytes;
    if (a.precision == "bf16") eo.precision = EncoderPrecision::kBFloat16;
    else if (a.precision != "fp32")
      throw CommandError{Status::InvalidArgument("unknown --precision '" + a.precision + "' (expected fp32 or bf16)")};
    eo.allow_affine_fast_path = !a.plain;
    eo.allow_relu_sign_split = !a.no_sign_split;
    enc = OrDie(RelativeEncoder::Create(map, anchors, eo), "creating the encoder");
    if (a.show_plan) std::fprintf(stderr, "execution plan: %s\n", enc->execution_plan().c_str());
    encode = [&](MatrixView block) { return enc->Encode(block); };
    block_rows = 256;
  } else {
    throw CommandError{Status::InvalidArgument("unknown --method '" + a.method + "' (expected relgeo or cosine)")};
  }
  if (latents->rows() == 0) throw CommandError{Status::InvalidArgument("latents are empty (0 rows)").WithContext("--latents")};
  if (latents->cols() != anchors.cols())
    throw CommandError{Status::InvalidArgument("latents have " + std::to_string(latents->cols()) + " columns, expected " +
                                               std::to_string(anchors.cols()) + " (the anchors')")
                           .WithContext("--latents")};
  auto out = OrDie(NpyMatrixWriter::Create(a.out, latents->rows(), anchors.rows()), "--out");
  Progress bar("encode", latents->rows(), "rows");
  Matrix block;
  while (true) {
    const int64_t first = latents->position();
    const int64_t n = OrDie(latents->ReadRows(block_rows, &block), "--latents");
    if (n == 0) break;
    const std::string rows = "rows " + std::to_string(first) + ".." + std::to_string(first + n - 1);
    OrDie(CheckLatents(block, anchors.cols(), "latents"), "--latents " + rows);
    OrDie(out->Append(OrDie(encode(block), "--latents " + rows)), "--out");
    bar.Update(first + n);
  }
  OrDie(out->Commit(), "--out");
  bar.Finish();
  if (!Globals().quiet)
    std::fprintf(stderr, "wrote %s: %lld x %lld representations\n", PrintableText(a.out).c_str(),
                 static_cast<long long>(latents->rows()), static_cast<long long>(anchors.rows()));
}

void RegisterEncode(CLI::App& app) {
  auto a = std::make_shared<EncodeArgs>();
  CLI::App* c = app.add_subcommand("encode", "Encode latents into relative representations");
  c->footer(
      "Example:\n  relgeo encode --map decoder.pt --anchor-latents anchors.npy --latents z.npy --out r.npy --steps 8\n"
      "  relgeo encode --method cosine --anchor-latents anchors.npy --latents z.npy --out r_cos.npy");
  c->add_option("--map", a->map, "Metric map (decoder or head), input (n x d): TorchScript (.pt) or torch.export/AOTInductor package (.pt2)")->check(CLI::ExistingFile);
  c->add_option("--anchor-latents,--anchors", a->anchors, "Anchor latents, K x d .npy (same model as --latents) (--anchors: the older spelling, still accepted)")->required()->check(CLI::ExistingFile);
  c->add_option("--latents", a->latents, "Latents to encode, n x d .npy")->required()->check(CLI::ExistingFile);
  c->add_option("--out", a->out, "Output .npy (n x K float32)")->required();
  c->add_option("--steps", a->steps, "Straight-line steps N, 1-" + std::to_string(kMaxSteps))->capture_default_str();
  c->add_option("--mode", a->mode, "length | energy")->capture_default_str();
  c->add_option("--distance", a->distance, "Output distance: euclidean | sphere | fisher")->capture_default_str();
  c->add_option("--method", a->method, "relgeo | cosine")->capture_default_str();
  auto* latent_dim = c->add_option("--latent-dim", a->latent_dim,
                                   "Latent dimension if it cannot be inferred, 1-" + std::to_string(kMaxLatentDim) +
                                       " (default: anchors' columns)");
  c->add_option("--memory-mb", a->budget_mb, "Encoder memory budget in MiB, > 0 and <= 1048576")->capture_default_str();
  c->add_option("--precision", a->precision,
                "fp32 | bf16 (bfloat16 GEMM inputs on the native path; docs/performance.md says what it changes)")
      ->capture_default_str();
  c->add_flag("--plain", a->plain, "Run the whole map on every path point (no affine split, native plan or sign split)");
  c->add_flag("--no-sign-split", a->no_sign_split, "Dense products on every path point instead of the relu sign split and the active-interval product");
  c->add_flag("--show-plan", a->show_plan, "Print how the map is evaluated (affine split, native plan, sign split, active intervals)");
  c->callback([a, latent_dim] { RunEncode(*a, latent_dim->count() > 0); });
}

const bool registered = RegisterCommand(10, RegisterEncode);

}  // namespace

}  // namespace relgeo::cli
