// relgeo encode: latents (.npy) -> relative representations (.npy).
#include "cli_common.h"
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

void RunEncode(const EncodeArgs& a, bool latent_dim_given) {
  // Every number first, each error naming its flag (before any file is read).
  CheckFlag("--steps", a.steps, 1, kMaxSteps, "straight-line steps");
  const int64_t budget_bytes = MemoryBudgetBytes("--memory-mb", a.budget_mb);
  if (latent_dim_given) CheckFlag<int64_t>("--latent-dim", a.latent_dim, 1, kMaxLatentDim, "latent dimension");
  Matrix anchors = OrDie(ReadNpyMatrix(a.anchors), "--anchor-latents");
  Matrix latents = OrDie(ReadNpyMatrix(a.latents), "--latents");
  Matrix reps;
  if (a.method == "cosine") {
    CosineEncoder enc = OrDie(CosineEncoder::Create(anchors), "--anchor-latents");
    reps = OrDie(enc.Encode(latents), "--latents");
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
    auto enc = OrDie(RelativeEncoder::Create(map, anchors, eo), "creating the encoder");
    if (a.show_plan) std::fprintf(stderr, "execution plan: %s\n", enc->execution_plan().c_str());
    reps = Matrix(latents.rows(), anchors.rows());
    OrDie(CheckLatents(latents, anchors.cols(), "latents"), "--latents");
    Progress bar("encode", latents.rows(), "rows");
    const int64_t chunk = 256;
    for (int64_t r = 0; r < latents.rows(); r += chunk) {
      const int64_t c = std::min(chunk, latents.rows() - r);
      Matrix part = OrDie(enc->Encode(latents.view().RowSlice(r, c)), "--latents");
      std::copy(part.data(), part.data() + part.size(), reps.row(r));
      bar.Update(r + c);
    }
    bar.Finish();
  } else {
    throw CommandError{Status::InvalidArgument("unknown --method '" + a.method + "' (expected relgeo or cosine)")};
  }
  OrDie(WriteNpyMatrix(a.out, reps), "--out");
  if (!Globals().quiet)
    std::fprintf(stderr, "wrote %s: %lld x %lld representations\n", PrintableText(a.out).c_str(),
                 static_cast<long long>(reps.rows()),
                 static_cast<long long>(reps.cols()));
}

void RegisterEncode(CLI::App& app) {
  auto a = std::make_shared<EncodeArgs>();
  CLI::App* c = app.add_subcommand("encode", "Encode latents into relative representations");
  c->footer(
      "Example:\n  relgeo encode --map decoder.pt --anchor-latents anchors.npy --latents z.npy --out r.npy --steps 8\n"
      "  relgeo encode --method cosine --anchor-latents anchors.npy --latents z.npy --out r_cos.npy");
  c->add_option("--map", a->map, "TorchScript metric map (decoder or head), input (n x d)")->check(CLI::ExistingFile);
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
  c->add_flag("--no-sign-split", a->no_sign_split, "Dense product on every path point instead of the relu sign split");
  c->add_flag("--show-plan", a->show_plan, "Print how the map is evaluated (affine split, native plan, sign split)");
  c->callback([a, latent_dim] { RunEncode(*a, latent_dim->count() > 0); });
}

const bool registered = RegisterCommand(10, RegisterEncode);

}  // namespace

}  // namespace relgeo::cli
