// The encoder benchmark (bench/README.md; results and method in docs/performance.md).
//
//   build/bench/bench_encoder [--threads=N] [--queries=256] [--slow_queries=32] [--conv_queries=32]
//       [--skip_python] [--real_map=decoder.pt --real_latents=z.npy] [--summary_json=PATH]
//       [--scaling_png=PREFIX] [--benchmark_filter=...]
//   build/bench/bench_encoder --explain=MAP.pt   (the encoder's plan for a map, checked; no benchmark)
//
// --threads=0 (the default) uses every hardware thread. --explain prints
// execution_plan() and the largest relative difference from the plain forward on
// random latents (16 anchors, 8 queries), and exits.
//
// Metric maps (built here with torch::jit::Module::define, random weights, Gaussian
// latents, saved to a temp dir so that the Python reference loads the very same module):
//   mlp   the MLP decoder 128 -> 512 -> 784: Linear+ReLU, Linear+Sigmoid
//   conv  the paper's conv decoder (latent 128): Linear(128,3136)+ReLU, view(64,7,7),
//         ConvTranspose2d(64,32,3,s2,p1,op1)+ReLU, ConvTranspose2d(32,1,3,s2,p1,op1)+Sigmoid
//   real  with --real_map/--real_latents: a `relgeo train-ae --arch mlp` decoder
//         (128-256-512-784); queries are the first rows of the latents, anchors the last K
// K = 256 anchors, N = 8 steps, euclidean, length mode, unless a row says otherwise.
//
// Benchmarks, in order (names as --benchmark_filter sees them):
//   gemm/{torch_mm,dnnl_lanes}/{2048x512x784,2048x2048x2048}   the float32 GEMM rates
//   per map: encoder/<map>/fast           the default plan, --queries (conv: --conv_queries)
//            encoder/<map>/fast_same_rows_as_pytorch   the same on the PyTorch rows, when they differ
//            encoder/<map>/fast_dense     without the relu sign split
//            encoder/<map>/fast_bf16      bfloat16 GEMMs (mlp, real)
//            encoder/mlp/fast_torchscript_rest   affine split, rest through TorchScript
//            encoder/<map>/plain          the plain TorchScript forward (PyTorch rows)
//            naive/<map>/{literal,cached} Algorithm 1 one point per map call, 1 query (not real)
//            pytorch/<map>/{debian,venv}  bench/reference_algorithm1.py with Debian's PyTorch and the
//                                         .venv's, checked against relgeo (not with --skip_python)
//   The PyTorch rows are --slow_queries for mlp and real, min(8, --conv_queries) for conv.
//   precision/mlp/bf16_vs_fp32        how far bfloat16 moves the representations, and MRR
//   latency/{mlp,conv}/1query         one query against K anchors
//   rows/mlp/fast/<rows>              rows per batch 64 ... 4096 (64 queries)
//   scaling/K/<K>, scaling/N/<N>      K = 16 ... 1000 (N = 8), N = 2 ... 32 (K = 256); mlp, 64 queries
//   memory/K<K>/N<N>/budget<MB>MB     peak RSS of one Encode of 16 queries in a child process
//                                     (this binary with --memory_probe), per memory budget
//   rows/conv/fast/<rows>             rows per batch 32 ... 2048 (16 queries)
// Then a summary table (pairs/s, evals/s, GFLOP/s, % of peak) with ratios between rows,
// also written by --summary_json, and --scaling_png's PREFIX_K.png and PREFIX_N.png.
//
// FLOP accounting (per map evaluation = per interior path point; a line z -> a has
// N - 1 of them, f(z) and f(a) are computed once and their time is included):
//   map FLOPs   the map's multiply-adds x 2 as a plain forward runs it:
//               mlp 2 (128*512 + 512*784) = 933,888;  conv 802,816 + 1,806,336 + 112,896 = 2,722,048
//   executed    what the encoder actually runs per path point: the affine fast path
//               replaces the first layer by an interpolation (2 h FLOPs):
//               mlp 802,816 + 1,024; conv 1,919,232 + 6,272; with the relu sign split
//               the layer after the first relu runs only over the units that change sign
//               (their mean fraction s, measured on the bench's inputs) plus the
//               interpolation of its end-point products: for a linear layer h -> m in
//               the tent form (two multiply-adds per unit per line, over N - 1 points)
//               - 2hm + 4shm/(N-1) + 6m (mlp: h 512, m 784), for the conv map
//               - 1,806,336 (1 - s) + 2*6,272; a linear layer in -> out behind a later
//               relu (real: 512 -> 784) runs the active-interval product over the
//               measured fraction c of its products: - 2 in out (1 - c).
//               Plain rows execute the map FLOPs.
// GFLOP/s_map = evaluations x map FLOPs / s (the useful work of the straight-line
// proxy); GFLOP/s_exec = evaluations x executed FLOPs / s. The GEMM peak is the better
// of torch::mm_out of (2048 x 512) x (512 x 784) float32 (OpenBLAS) and the same GEMM as
// concurrent single-threaded dnnl_sgemm lanes, measured before and after every encoder,
// naive and PyTorch benchmark (the mean is its peak), so contention on a shared machine
// moves both sides of the ratio together.
#include <benchmark/benchmark.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <dlfcn.h>
#include <unistd.h>

#include <ATen/Parallel.h>

#include "encoder_flops.h"
#include "encoder_summary.h"
#include "gemm_peak.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"
#include "relgeo/threads.h"

namespace {

using Clock = std::chrono::steady_clock;
using relgeo::Matrix;
using relgeo::bench::GemmGflops;
using relgeo::bench::GemmGflopsLanes;
using relgeo::bench::IntervalCoverage;
using relgeo::bench::SignChangeFraction;
using relgeo::bench::Peak;

struct Flags {
  int threads = 0;
  int64_t queries = 256;
  int64_t slow_queries = 32;  // mlp: TorchScript-rest, plain and PyTorch runs (and a fast run on the same rows)
  int64_t conv_queries = 32;
  int64_t anchors = 256;
  int steps = 8;
  bool skip_python = false;
  std::string summary_json;
  std::string memory_probe, probe_dir;  // internal: BM_Memory's child process
  std::string explain;                  // --explain=MAP.pt: print the execution plan and exit
  std::string real_map, real_latents;   // --real_map=decoder.pt --real_latents=z.npy: a trained decoder
  std::string scaling_png;              // --scaling_png=PREFIX: PREFIX_K.png, PREFIX_N.png (time vs K, vs N)
} g_flags;

std::string g_dir;  // temp dir with the maps and inputs

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// ---- maps --------------------------------------------------------------------------

torch::Tensor Randn(std::vector<int64_t> shape, double scale, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape) * scale;
}

std::string SaveModule(torch::jit::Module& m, const std::string& name) {
  std::string path = g_dir + "/" + name + ".pt";
  m.save(path);
  return path;
}

std::string BuildMlp() {
  torch::jit::Module m("MlpDecoder");
  m.register_attribute("input_dim", c10::IntType::get(), int64_t{128});
  m.register_parameter("W1", Randn({512, 128}, 1.0 / std::sqrt(128.0), 1), false);
  m.register_parameter("b1", Randn({512}, 0.1, 2), false);
  m.register_parameter("W2", Randn({784, 512}, 1.0 / std::sqrt(512.0), 3), false);
  m.register_parameter("b2", Randn({784}, 0.1, 4), false);
  m.define(
      "def forward(self, x):\n"
      "  h = torch.relu(torch.linear(x, self.W1, self.b1))\n"
      "  return torch.sigmoid(torch.linear(h, self.W2, self.b2))\n");
  return SaveModule(m, "mlp");
}

std::string BuildConv() {
  torch::jit::Module m("ConvDecoder");
  m.register_attribute("input_dim", c10::IntType::get(), int64_t{128});
  m.register_parameter("W0", Randn({3136, 128}, 1.0 / std::sqrt(128.0), 11), false);
  m.register_parameter("b0", Randn({3136}, 0.1, 12), false);
  m.register_parameter("W1", Randn({64, 32, 3, 3}, 1.0 / std::sqrt(64.0 * 9 / 4), 13), false);
  m.register_parameter("b1", Randn({32}, 0.1, 14), false);
  m.register_parameter("W2", Randn({32, 1, 3, 3}, 1.0 / std::sqrt(32.0 * 9 / 4), 15), false);
  m.register_parameter("b2", Randn({1}, 0.1, 16), false);
  m.define(
      "def forward(self, x):\n"
      "  h = torch.relu(torch.linear(x, self.W0, self.b0))\n"
      "  h = h.view(-1, 64, 7, 7)\n"
      "  h = torch.relu(torch.conv_transpose2d(h, self.W1, self.b1, 2, 1, 1))\n"
      "  return torch.sigmoid(torch.conv_transpose2d(h, self.W2, self.b2, 2, 1, 1))\n");
  return SaveModule(m, "conv");
}

struct MapSpec {
  std::string name, path;
  // Per path point: the map's FLOPs, those executed with the affine split, and with
  // the relu sign split too (the first linear layer after relu only over the units
  // that change sign: sign_change = their measured mean fraction on these inputs).
  double flops_map = 0, flops_exec_fast = 0, flops_exec_split = 0, sign_change = 0;
  // A linear layer h -> m after the first relu runs in the tent form (design.md §4.5):
  // per line two multiply-adds per changing unit and column, shared by its N - 1
  // points, so its executed FLOPs depend on N (TentSplitFlops); 0 for the conv map.
  double tent_h = 0, tent_m = 0;
  // A linear layer in -> out behind a later relu runs the active-interval product over
  // the measured fraction of its (unit, point) products (design.md §4.5); 0: none.
  double interval_in = 0, interval_out = 0, interval_coverage = 0;
  int64_t queries = 0, py_queries = 0;
  std::shared_ptr<relgeo::MetricMap> map;
  Matrix anchors, latents;
  std::string anchors_path, latents_path;
};
std::map<std::string, MapSpec> g_maps;

// Executed FLOPs per path point with the tent-form sign split at N steps: the dense
// layer (2 h m) replaced by 4 s h m / (N - 1) for the tents, plus the end points'
// interpolation (2 m) and each row's assembly from the bins' sums (4 m).
double TentSplitFlops(const MapSpec& s, int steps) {
  const double points = std::max(1, steps - 1);
  return s.flops_exec_fast - 2.0 * s.tent_h * s.tent_m + 4.0 * s.sign_change * s.tent_h * s.tent_m / points +
         6.0 * s.tent_m - 2.0 * s.interval_in * s.interval_out * (1 - s.interval_coverage);
}

Matrix RandomLatents(int64_t n, int64_t d, uint64_t seed) {
  torch::Tensor t = Randn({n, d}, 1.0, seed).contiguous();
  return Matrix(n, d, std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + n * d));
}

void AddMap(const std::string& name, const std::string& path, double fm, double fe, int64_t queries,
            int64_t py_queries, const Matrix* given = nullptr) {
  MapSpec s;
  s.name = name;
  s.path = path;
  s.flops_map = fm;
  s.flops_exec_fast = fe;
  s.queries = queries;
  s.py_queries = py_queries;
  auto r = relgeo::MetricMap::Load(path);
  if (!r.ok()) {
    std::cerr << r.status().ToString() << "\n";
    std::exit(1);
  }
  s.map = *r;
  if (given) {
    // Real latents: the anchors are the last K rows, the queries the first ones.
    const int64_t K = g_flags.anchors;
    if (given->rows() < K + queries) {
      std::cerr << "--real_latents needs at least " << K + queries << " rows\n";
      std::exit(1);
    }
    s.anchors = Matrix::CopyOf(relgeo::MatrixView(*given).RowSlice(given->rows() - K, K));
    s.latents = Matrix::CopyOf(relgeo::MatrixView(*given).RowSlice(0, queries));
  } else {
    s.anchors = RandomLatents(g_flags.anchors, 128, 100);
    s.latents = RandomLatents(queries, 128, 200);
  }
  s.anchors_path = g_dir + "/" + name + "_anchors.npy";
  s.latents_path = g_dir + "/" + name + "_latents.npy";
  (void)relgeo::WriteNpyMatrix(s.anchors_path, s.anchors);
  (void)relgeo::WriteNpyMatrix(s.latents_path, relgeo::MatrixView(s.latents).RowSlice(0, py_queries));
  g_maps[name] = std::move(s);
}

// ---- results shared with the summary -----------------------------------------------

using Row = relgeo::bench::EncoderRow;
relgeo::bench::EncoderRows g_rows;

void Report(benchmark::State& st, const std::string& key, const MapSpec& s, int64_t n, int64_t K, int N,
            double secs, int64_t iters, double flops_exec, double peak) {
  Row r;
  r.seconds = secs / iters;
  r.pairs_per_s = double(n) * K * iters / secs;
  r.evals_per_s = r.pairs_per_s * (N - 1);
  r.gflops_map = r.evals_per_s * s.flops_map / 1e9;
  r.gflops_exec = r.evals_per_s * flops_exec / 1e9;
  r.peak = peak;
  st.counters["pairs/s"] = r.pairs_per_s;
  st.counters["evals/s"] = r.evals_per_s;
  st.counters["GFLOPs_map"] = r.gflops_map;
  st.counters["GFLOPs_exec"] = r.gflops_exec;
  st.counters["peak_GFLOPs"] = peak;
  st.counters["pct_peak_map"] = 100.0 * r.gflops_map / peak;
  st.counters["pct_peak_exec"] = 100.0 * r.gflops_exec / peak;
  g_rows[key] = r;
}

// ---- benchmarks ---------------------------------------------------------------------

void BM_Gemm(benchmark::State& st, int64_t M, int64_t K, int64_t N, bool lanes) {
  double g = 0;
  for (auto _ : st) g = lanes ? GemmGflopsLanes(M, K, N, 0.5) : GemmGflops(M, K, N, 0.5);
  st.counters["GFLOPs"] = g;
  g_rows[std::string(lanes ? "gemm dnnl lanes " : "gemm torch::mm ") + std::to_string(M) + "x" + std::to_string(K) +
         "x" + std::to_string(N)]
      .gflops_exec = g;
}

void BM_Encoder(benchmark::State& st, const std::string& map_name, bool fast, int64_t rows, int64_t queries,
                int64_t anchors, int steps, const std::string& key, bool native = true, bool bf16 = false,
                bool sign_split = true) {
  MapSpec& s = g_maps[map_name];
  relgeo::EncoderOptions o;
  o.allow_relu_sign_split = sign_split;
  if (bf16) o.precision = relgeo::EncoderPrecision::kBFloat16;
  o.steps = steps;
  o.allow_affine_fast_path = fast;
  o.allow_native_mlp = native;
  o.rows_per_batch = rows;
  Matrix A = anchors == s.anchors.rows() ? s.anchors : RandomLatents(anchors, 128, 300 + anchors);
  auto enc = relgeo::RelativeEncoder::Create(s.map, A, o);
  if (!enc.ok()) {
    st.SkipWithError(enc.status().ToString().c_str());
    return;
  }
  if ((*enc)->affine_fast_path() != fast) {
    st.SkipWithError("fast path detection disagrees with the request");
    return;
  }
  relgeo::MatrixView Z = relgeo::MatrixView(s.latents).RowSlice(0, std::min(queries, s.latents.rows()));
  (void)(*enc)->Encode(Z.RowSlice(0, 1));  // untimed: OpenMP team start-up, first touch of the lanes' buffers
  double p0 = Peak();
  double secs = 0;
  int64_t iters = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    auto r = (*enc)->Encode(Z);
    const double dt = Seconds(t0, Clock::now());
    if (!r.ok()) {
      st.SkipWithError(r.status().ToString().c_str());
      return;
    }
    st.SetIterationTime(dt);
    secs += dt;
    ++iters;
  }
  double peak = 0.5 * (p0 + Peak());
  const bool split = (*enc)->execution_plan().find("sign split") != std::string::npos;
  const double exec = split ? (s.tent_m > 0 ? TentSplitFlops(s, steps) : s.flops_exec_split)
                             : fast ? s.flops_exec_fast : s.flops_map;
  Report(st, key, s, Z.rows(), anchors, steps, secs, iters, exec, peak);
  st.counters["rows_per_batch"] = double((*enc)->rows_per_batch());
  st.SetLabel((*enc)->execution_plan());
  g_rows[key].note = (*enc)->execution_plan();
}

// Algorithm 1, one anchor and one step at a time, one map call per path point.
// literal: as the paper writes it, D(gamma_j) and D(gamma_{j-1}) are both evaluated at
// every step (2N calls per line); cached: each point once, f(z) and f(a) reused
// (N-1 calls per line). Both count N-1 useful evaluations per line in the rates.
void BM_Naive(benchmark::State& st, const std::string& map_name, int64_t queries, bool literal) {
  MapSpec& s = g_maps[map_name];
  const int N = g_flags.steps;
  const int64_t K = s.anchors.rows();
  torch::jit::Module mod = torch::jit::load(s.path);
  mod.eval();
  c10::InferenceMode guard;
  torch::Tensor A = torch::from_blob(s.anchors.data(), {K, 128}).clone();
  torch::Tensor Z = torch::from_blob(s.latents.data(), {s.latents.rows(), 128}).narrow(0, 0, queries).clone();
  auto f = [&](const torch::Tensor& x) { return mod.forward({x}).toTensor().reshape({x.size(0), -1}); };
  torch::Tensor fa = f(A);
  double p0 = Peak();
  double secs = 0;
  int64_t iters = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    torch::Tensor out = torch::empty({queries, K});
    for (int64_t i = 0; i < queries; ++i) {
      torch::Tensor z = Z.narrow(0, i, 1);
      torch::Tensor fz = f(z);
      for (int64_t k = 0; k < K; ++k) {
        torch::Tensor a = A.narrow(0, k, 1), prev = fz;
        double L = 0;
        for (int j = 1; j <= N; ++j) {
          torch::Tensor cur;
          if (literal) {
            prev = f(z + (a - z) * (double(j - 1) / N));
            cur = f(z + (a - z) * (double(j) / N));
          } else {
            cur = j == N ? fa.narrow(0, k, 1) : f(z + (a - z) * (double(j) / N));
          }
          L += (cur - prev).norm().item<double>();
          prev = cur;
        }
        out[i][k] = L;
      }
    }
    const double dt = Seconds(t0, Clock::now());
    st.SetIterationTime(dt);
    secs += dt;
    ++iters;
  }
  Report(st, map_name + (literal ? " naive literal (2N calls per line)" : " naive cached (N-1 calls per line)"), s,
         queries, K, N, secs, iters, s.flops_map, 0.5 * (p0 + Peak()));
}

// The batched PyTorch reference, run as a child process on the same module and inputs,
// once with each PyTorch: Debian's (/usr/bin/python3, 1.13, OpenBLAS) and the project's
// .venv (current PyTorch, MKL and oneDNN). Ratios use the faster of the two (FasterPyTorch).
struct PythonRef {
  std::string label;   // "debian" or "venv"
  std::string python;  // interpreter path
};
std::vector<PythonRef> ReferencePythons() {
  std::vector<PythonRef> out{{"debian", "/usr/bin/python3"}};
  if (access(RELGEO_BENCH_VENV_PYTHON, X_OK) == 0) out.push_back({"venv", RELGEO_BENCH_VENV_PYTHON});
  return out;
}
std::string PyTorchRow(const std::string& map_name, const std::string& label) {
  return map_name + " PyTorch batched reference (" + label + ")";
}

void BM_PyTorch(benchmark::State& st, const std::string& map_name, const PythonRef& py_ref) {
  MapSpec& s = g_maps[map_name];
  const std::string out_npy = g_dir + "/" + map_name + "_" + py_ref.label + "_py_reps.npy";
  std::ostringstream cmd;
  const int threads = relgeo::ConfiguredThreads();
  cmd << "OMP_NUM_THREADS=" << threads << " OPENBLAS_NUM_THREADS=" << threads << " MKL_NUM_THREADS=" << threads
      << " " << py_ref.python << " "
      << RELGEO_BENCH_DIR << "/reference_algorithm1.py --map " << s.path << " --anchors " << s.anchors_path
      << " --latents " << s.latents_path << " --steps " << g_flags.steps << " --threads " << threads
      << " --repeat 3 --out " << out_npy;
  double p0 = Peak();
  std::string json;
  for (auto _ : st) {
    FILE* p = popen(cmd.str().c_str(), "r");
    if (!p) {
      st.SkipWithError("cannot start python3");
      return;
    }
    char buf[4096];
    json.clear();
    while (fgets(buf, sizeof buf, p)) json += buf;
    if (pclose(p) != 0) {
      st.SkipWithError(("reference failed: " + cmd.str()).c_str());
      return;
    }
  }
  auto field = [&](const std::string& k) {
    size_t at = json.find("\"" + k + "\": ");
    return at == std::string::npos ? 0.0 : std::atof(json.c_str() + at + k.size() + 4);
  };
  const double secs = field("seconds");
  st.SetIterationTime(secs);
  const std::string row = PyTorchRow(map_name, py_ref.label);
  Report(st, row, s, s.py_queries, s.anchors.rows(), g_flags.steps, secs, 1, s.flops_map, 0.5 * (p0 + Peak()));
  st.counters["queries_per_chunk"] = field("queries_per_chunk");
  g_rows[row].note = json;
  // Same values as relgeo's encoder?
  auto py = relgeo::ReadNpyMatrix(out_npy);
  relgeo::EncoderOptions o;
  o.steps = g_flags.steps;
  auto enc = relgeo::RelativeEncoder::Create(s.map, s.anchors, o);
  if (py.ok() && enc.ok()) {
    auto r = (*enc)->Encode(relgeo::MatrixView(s.latents).RowSlice(0, s.py_queries));
    double worst = 0;
    for (int64_t i = 0; r.ok() && i < r->size(); ++i)
      worst = std::max(worst, std::abs(double(r->data()[i]) - py->data()[i]) / std::max(1e-6, std::abs(double(py->data()[i]))));
    st.counters["max_rel_diff_vs_relgeo"] = worst;
  }
}

// bfloat16 GEMMs: how far the representations move from float32, and whether
// retrieval moves: MRR of matching each query's bf16 representation among the fp32
// representations of all queries (cosine similarity; 1.0 = every query finds itself
// first), plus the same MRR between fp32 representations of two nearby latent sets
// as a scale for what a real perturbation does.
void BM_Precision(benchmark::State& st) {
  MapSpec& s = g_maps["mlp"];
  relgeo::EncoderOptions o;
  o.steps = g_flags.steps;
  auto e32 = relgeo::RelativeEncoder::Create(s.map, s.anchors, o);
  o.precision = relgeo::EncoderPrecision::kBFloat16;
  auto e16 = relgeo::RelativeEncoder::Create(s.map, s.anchors, o);
  if (!e32.ok() || !e16.ok()) {
    st.SkipWithError("encoder creation failed");
    return;
  }
  const int64_t n = std::min<int64_t>(s.latents.rows(), 256);
  relgeo::MatrixView Z = relgeo::MatrixView(s.latents).RowSlice(0, n);
  Matrix r32, r16;
  for (auto _ : st) {
    r32 = *(*e32)->Encode(Z);
    r16 = *(*e16)->Encode(Z);
  }
  const int64_t K = r32.cols();
  double max_rel = 0, mean_rel = 0;
  for (int64_t i = 0; i < r32.size(); ++i) {
    const double e = std::abs(double(r16.data()[i]) - r32.data()[i]) / std::max(1e-9, std::abs(double(r32.data()[i])));
    max_rel = std::max(max_rel, e);
    mean_rel += e / r32.size();
  }
  auto unit = [&](const Matrix& m, int64_t i) {
    std::vector<double> v(m.row(i), m.row(i) + K);
    double nn = 0;
    for (double x : v) nn += x * x;
    for (double& x : v) x /= std::sqrt(nn);
    return v;
  };
  double mrr = 0;
  for (int64_t i = 0; i < n; ++i) {
    auto q = unit(r16, i);
    std::vector<double> sims(n);
    for (int64_t j = 0; j < n; ++j) {
      auto c = unit(r32, j);
      double d = 0;
      for (int64_t k = 0; k < K; ++k) d += q[k] * c[k];
      sims[j] = d;
    }
    int64_t rank = 1;
    for (int64_t j = 0; j < n; ++j) rank += (j != i && sims[j] >= sims[i]);
    mrr += 1.0 / rank / n;
  }
  st.counters["max_rel_err"] = max_rel;
  st.counters["mean_rel_err"] = mean_rel;
  st.counters["MRR_bf16_vs_fp32"] = mrr;
  g_rows["precision bf16 vs fp32"].note =
      "max_rel_err=" + std::to_string(max_rel) + " mean_rel_err=" + std::to_string(mean_rel) + " MRR=" + std::to_string(mrr);
}

// Peak resident memory of one Encode (VmHWM reset through /proc/self/clear_refs).
int64_t ReadStatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atoll(line.c_str() + std::strlen(key));
  return -1;
}
bool ResetPeakRss() { return static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5"); }

// One Encode of 16 queries in a fresh process (`--memory_probe=K:N:MB:ROWS`, run by
// BM_Memory through /proc/self/exe), so that no earlier benchmark's freed heap hides
// the encoder's own buffers. Prints "rss_before_kb peak_kb rows_per_batch".
int MemoryProbe(const std::string& spec) {
  int64_t K = 0, mb = 0, rows = 0;
  int N = 0;
  if (std::sscanf(spec.c_str(), "%ld:%d:%ld:%ld", &K, &N, &mb, &rows) != 4) return 2;
  auto map = relgeo::MetricMap::Load(g_dir + "/mlp.pt");
  if (!map.ok()) return 1;
  relgeo::EncoderOptions o;
  o.steps = N;
  o.memory_budget_bytes = mb << 20;
  o.rows_per_batch = rows;
  Matrix A = RandomLatents(K, 128, 400 + K), Z = RandomLatents(16, 128, 500);
  auto enc = relgeo::RelativeEncoder::Create(*map, A, o);
  if (!enc.ok()) return 1;
  const int64_t before = ReadStatusKb("VmRSS:");
  ResetPeakRss();
  auto r = (*enc)->Encode(Z);
  const int64_t peak = ReadStatusKb("VmHWM:");
  std::printf("%ld %ld %ld\n", before, peak, (*enc)->rows_per_batch());
  return r.ok() ? 0 : 1;
}

void BM_Memory(benchmark::State& st, int64_t anchors, int steps, int64_t budget_mb, int64_t rows) {
  std::ostringstream cmd;
  cmd << "/proc/" << getpid() << "/exe --memory_probe=" << anchors << ":" << steps << ":" << budget_mb << ":" << rows
      << " --probe_dir=" << g_dir;
  long before = 0, peak = 0, used_rows = 0;
  for (auto _ : st) {
    auto t0 = Clock::now();
    FILE* p = popen(cmd.str().c_str(), "r");
    if (!p || std::fscanf(p, "%ld %ld %ld", &before, &peak, &used_rows) != 3) {
      if (p) pclose(p);
      st.SkipWithError("memory probe failed");
      return;
    }
    pclose(p);
    st.SetIterationTime(Seconds(t0, Clock::now()));
  }
  st.counters["rss_before_MB"] = before / 1024.0;
  st.counters["peak_rss_MB"] = peak / 1024.0;
  st.counters["encode_peak_minus_before_MB"] = (peak - before) / 1024.0;
  st.counters["budget_MB"] = double(budget_mb);
  st.counters["rows_per_batch"] = double(used_rows);
  Row r;
  r.note = "K=" + std::to_string(anchors) + " N=" + std::to_string(steps) + " budget=" + std::to_string(budget_mb) +
           "MB rows=" + std::to_string(used_rows) + ": RSS before Encode " + std::to_string(before / 1024) +
           " MB, peak " + std::to_string(peak / 1024) + " MB, Encode adds " + std::to_string((peak - before) / 1024) +
           " MB";
  g_rows["memory K=" + std::to_string(anchors) + " N=" + std::to_string(steps) + " budget=" + std::to_string(budget_mb)] =
      r;
}

void PrintSummary() {
  const std::string json = relgeo::bench::PrintRowTable(g_rows);
  // "<map> PyTorch batched reference": the faster of the PyTorches measured (the
  // honest baseline every ratio against PyTorch uses).
  for (const auto& [m, spec] : g_maps) {
    const Row* best = nullptr;
    std::string best_label;
    for (const PythonRef& py : ReferencePythons()) {
      auto it = g_rows.find(PyTorchRow(m, py.label));
      if (it != g_rows.end() && (!best || it->second.pairs_per_s > best->pairs_per_s)) {
        best = &it->second;
        best_label = py.label;
      }
    }
    if (best) {
      g_rows[m + " PyTorch batched reference"] = *best;
      std::printf("%s: the faster PyTorch reference is %s (%.0f pairs/s)\n", m.c_str(), best_label.c_str(),
                  best->pairs_per_s);
    }
  }
  auto ratio = [&](const std::string& a, const std::string& b) {
    if (!g_rows.count(a) || !g_rows.count(b) || g_rows[b].pairs_per_s <= 0) return;
    std::printf("ratio  %-45s / %-45s = %6.2fx\n", a.c_str(), b.c_str(), g_rows[a].pairs_per_s / g_rows[b].pairs_per_s);
  };
  for (const auto& [name, spec] : g_maps) {
    if (spec.sign_change > 0)
      std::printf("%s: %.1f%% of the first hidden layer's units change sign between query and anchor\n", name.c_str(),
                  100.0 * spec.sign_change);
    if (spec.interval_coverage > 0)
      std::printf("%s: the active intervals cover %.1f%% of the second hidden layer's (unit, point) products\n",
                  name.c_str(), 100.0 * spec.interval_coverage);
  }
  for (const auto& [m, spec] : g_maps) {
    ratio(m + " relgeo fast", m + " relgeo fast, dense product");
    ratio(m + " relgeo fast, dense product", m + " PyTorch batched reference");
    ratio(m + " relgeo fast", m + " relgeo plain");
    ratio(m + " relgeo fast", m + " relgeo fast, TorchScript rest");
    ratio(m + " relgeo fast", m + " naive literal (2N calls per line)");
    ratio(m + " relgeo fast", m + " naive cached (N-1 calls per line)");
    ratio(m + " relgeo plain", m + " naive cached (N-1 calls per line)");
    ratio(m + " relgeo fast", m + " PyTorch batched reference");
    ratio(m + " relgeo fast (PyTorch's rows)", m + " PyTorch batched reference");
    ratio(m + " relgeo fast bf16 GEMM", m + " PyTorch batched reference");
    ratio(m + " relgeo fast bf16 GEMM", m + " relgeo fast");
    ratio(m + " relgeo plain", m + " PyTorch batched reference");
  }
  if (!g_flags.summary_json.empty()) std::ofstream(g_flags.summary_json) << json;
  if (!g_flags.scaling_png.empty()) relgeo::bench::WriteScalingPlots(g_rows, g_flags.scaling_png);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* k) { return a.substr(std::strlen(k)); };
    if (a.rfind("--threads=", 0) == 0) g_flags.threads = std::stoi(val("--threads="));
    else if (a.rfind("--queries=", 0) == 0) g_flags.queries = std::stoll(val("--queries="));
    else if (a.rfind("--slow_queries=", 0) == 0) g_flags.slow_queries = std::stoll(val("--slow_queries="));
    else if (a.rfind("--conv_queries=", 0) == 0) g_flags.conv_queries = std::stoll(val("--conv_queries="));
    else if (a.rfind("--summary_json=", 0) == 0) g_flags.summary_json = val("--summary_json=");
    else if (a == "--skip_python") g_flags.skip_python = true;
    else if (a.rfind("--memory_probe=", 0) == 0) g_flags.memory_probe = val("--memory_probe=");
    else if (a.rfind("--probe_dir=", 0) == 0) g_flags.probe_dir = val("--probe_dir=");
    else if (a.rfind("--explain=", 0) == 0) g_flags.explain = val("--explain=");
    else if (a.rfind("--real_map=", 0) == 0) g_flags.real_map = val("--real_map=");
    else if (a.rfind("--real_latents=", 0) == 0) g_flags.real_latents = val("--real_latents=");
    else if (a.rfind("--scaling_png=", 0) == 0) g_flags.scaling_png = val("--scaling_png=");
    else rest.push_back(argv[i]);
  }
  int rargc = static_cast<int>(rest.size());
  relgeo::ConfigureThreads(g_flags.threads);
  if (!g_flags.explain.empty()) {
    // How the encoder would run a given TorchScript map (affine split, native plan), and
    // whether it agrees with the plain forward on random latents.
    auto map = relgeo::MetricMap::Load(g_flags.explain);
    if (!map.ok()) {
      std::cerr << map.status().ToString() << "\n";
      return 1;
    }
    const int64_t d = (*map)->input_dim();
    Matrix A = RandomLatents(16, d, 1), Z = RandomLatents(8, d, 2);
    relgeo::EncoderOptions o;
    auto fast = relgeo::RelativeEncoder::Create(*map, A, o);
    o.allow_affine_fast_path = false;
    auto plain = relgeo::RelativeEncoder::Create(*map, A, o);
    if (!fast.ok() || !plain.ok()) return 1;
    Matrix r1 = *(*fast)->Encode(Z), r2 = *(*plain)->Encode(Z);
    double worst = 0;
    for (int64_t i = 0; i < r1.size(); ++i)
      worst = std::max(worst, std::abs(double(r1.data()[i]) - r2.data()[i]) / std::max(1e-9, std::abs(double(r2.data()[i]))));
    std::printf("%s: d=%ld m=%ld plan: %s; max rel diff vs plain forward %.3g\n", g_flags.explain.c_str(), d,
                (*map)->output_dim(), (*fast)->execution_plan().c_str(), worst);
    return 0;
  }
  if (!g_flags.memory_probe.empty()) {
    g_dir = g_flags.probe_dir;
    return MemoryProbe(g_flags.memory_probe);
  }
  g_dir = (std::filesystem::temp_directory_path() / ("relgeo_bench_" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(g_dir);
  const double mlp = 2.0 * (128 * 512 + 512 * 784), conv = 802816.0 + 1806336.0 + 112896.0;
  AddMap("mlp", BuildMlp(), mlp, mlp - 2.0 * 128 * 512 + 2.0 * 512, std::max(g_flags.queries, g_flags.slow_queries),
         g_flags.slow_queries);
  AddMap("conv", BuildConv(), conv, conv - 2.0 * 128 * 3136 + 2.0 * 3136, g_flags.conv_queries,
         std::min<int64_t>(8, g_flags.conv_queries));  // PyTorch and the plain path: 8 queries (slow)
  {
    MapSpec& s = g_maps["mlp"];
    s.sign_change = SignChangeFraction(torch::jit::load(s.path), "W1", "b1", s.latents, s.anchors);
    s.tent_h = 512, s.tent_m = 784;
  }
  {
    // The conv decoder's first transposed convolution (1,806,336 FLOPs) runs over the
    // changing units only; the end points' products are interpolated (2 x 6272).
    MapSpec& s = g_maps["conv"];
    s.sign_change = SignChangeFraction(torch::jit::load(s.path), "W0", "b0", s.latents, s.anchors);
    s.flops_exec_split = s.flops_exec_fast - 1806336.0 * (1 - s.sign_change) + 2.0 * 6272;
  }
  std::vector<std::string> maps = {"mlp", "conv"};
  if (!g_flags.real_map.empty()) {
    // A decoder trained by `relgeo train-ae --arch mlp` (128-256-512-784, addmm layers)
    // on latents of real images (`relgeo embed`).
    auto z = relgeo::ReadNpyMatrix(g_flags.real_latents);
    if (!z.ok()) {
      std::cerr << "--real_latents: " << z.status().ToString() << "\n";
      return 1;
    }
    const double f = 2.0 * (128 * 256 + 256 * 512 + 512 * 784);
    AddMap("real", g_flags.real_map, f, f - 2.0 * 128 * 256 + 2.0 * 256, g_flags.queries, g_flags.slow_queries, &*z);
    MapSpec& s = g_maps["real"];
    const torch::jit::Module mod = torch::jit::load(s.path);  // read once for both measurements
    s.sign_change = SignChangeFraction(mod, "l1_w", "l1_b", s.latents, s.anchors);
    s.tent_h = 256, s.tent_m = 512;
    s.interval_in = 512, s.interval_out = 784;
    s.interval_coverage =
        IntervalCoverage(mod, "l1_w", "l1_b", "l2_w", "l2_b", s.latents, s.anchors, g_flags.steps, 64);
    maps.push_back("real");
  }
  const int N = g_flags.steps;
  const int64_t K = g_flags.anchors;

  auto reg = [](const std::string& name, auto fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  benchmark::RegisterBenchmark("gemm/torch_mm/2048x512x784", BM_Gemm, 2048, 512, 784, false)->Iterations(1);
  benchmark::RegisterBenchmark("gemm/torch_mm/2048x2048x2048", BM_Gemm, 2048, 2048, 2048, false)->Iterations(1);
  benchmark::RegisterBenchmark("gemm/dnnl_lanes/2048x512x784", BM_Gemm, 2048, 512, 784, true)->Iterations(1);
  benchmark::RegisterBenchmark("gemm/dnnl_lanes/2048x2048x2048", BM_Gemm, 2048, 2048, 2048, true)->Iterations(1);
  auto add_pytorch = [&](const std::string& m) {
    if (g_flags.skip_python) return;
    for (const PythonRef& py : ReferencePythons())
      reg("pytorch/" + m + "/" + py.label, [=](benchmark::State& st) { BM_PyTorch(st, m, py); })->Iterations(1);
  };
  for (const std::string& m : maps) {
    const int64_t q = m == "conv" ? g_flags.conv_queries : g_flags.queries;
    const int64_t qs = g_maps[m].py_queries;  // the rows the slow variants and PyTorch run on
    const bool mlp = m != "conv";
    reg("encoder/" + m + "/fast", [=](benchmark::State& st) { BM_Encoder(st, m, true, 0, q, K, N, m + " relgeo fast"); })
        ->MinTime(0.5);
    if (qs != q)
      reg("encoder/" + m + "/fast_same_rows_as_pytorch", [=](benchmark::State& st) {
        BM_Encoder(st, m, true, 0, qs, K, N, m + " relgeo fast (PyTorch's rows)");
      })->MinTime(0.5);
    reg("encoder/" + m + "/fast_dense", [=](benchmark::State& st) {
        BM_Encoder(st, m, true, 0, q, K, N, m + " relgeo fast, dense product", true, false, false);
      })->MinTime(0.5);
    if (mlp)
      reg("encoder/" + m + "/fast_bf16", [=](benchmark::State& st) {
        BM_Encoder(st, m, true, 0, q, K, N, m + " relgeo fast bf16 GEMM", true, true);
      })->MinTime(0.5);
    if (m == "mlp")
      reg("encoder/" + m + "/fast_torchscript_rest", [=](benchmark::State& st) {
        BM_Encoder(st, m, true, 0, qs, K, N, m + " relgeo fast, TorchScript rest", false);
      })->MinTime(0.5);
    reg("encoder/" + m + "/plain",
        [=](benchmark::State& st) { BM_Encoder(st, m, false, 0, qs, K, N, m + " relgeo plain"); })
        ->MinTime(0.5);
    if (m == "real") {
      add_pytorch(m);
      continue;
    }
    reg("naive/" + m + "/literal", [=](benchmark::State& st) { BM_Naive(st, m, 1, true); })->Iterations(1);
    reg("naive/" + m + "/cached", [=](benchmark::State& st) { BM_Naive(st, m, 1, false); })->Iterations(1);
    add_pytorch(m);
  }
  reg("precision/mlp/bf16_vs_fp32", BM_Precision)->Iterations(1);
  // Latency of one query (a database search encodes one query against K anchors).
  for (const std::string m : {"mlp", "conv"})
    reg("latency/" + m + "/1query", [=](benchmark::State& st) {
      BM_Encoder(st, m, true, 0, 1, K, N, m + " latency, 1 query");
    })->MinTime(0.5);
  // Rows per batched map call (the cache/GEMM-shape trade-off), MLP fast path, 64 queries.
  for (int64_t rows : {64, 128, 256, 512, 1024, 2048, 4096})
    reg("rows/mlp/fast/" + std::to_string(rows), [=](benchmark::State& st) {
      BM_Encoder(st, "mlp", true, rows, 64, K, N, "mlp fast rows=" + std::to_string(rows) + " (64 queries)");
    })->MinTime(0.5);
  // Scaling: time vs K (N = 8) and vs N (K = 256), 64 queries, MLP fast path.
  for (int64_t k : {16, 64, 256, 1000})
    reg("scaling/K/" + std::to_string(k), [=](benchmark::State& st) {
      BM_Encoder(st, "mlp", true, 0, 64, k, 8, "scaling K=" + std::to_string(k) + " N=8 (64 queries)");
    })->MinTime(0.5);
  for (int n : {2, 3, 4, 8, 16, 32})
    reg("scaling/N/" + std::to_string(n), [=](benchmark::State& st) {
      BM_Encoder(st, "mlp", true, 0, 64, 256, n, "scaling K=256 N=" + std::to_string(n) + " (64 queries)");
    })->MinTime(0.5);
  // Memory: peak RSS of one Encode of 16 queries, K up to 1000, N up to 32.
  // rows_per_batch is left unlimited so that the budget alone sizes the batches.
  for (int64_t k : {256, 1000})
    for (int n : {8, 32})
      for (int64_t mb : {16, 64, 256})
        reg("memory/K" + std::to_string(k) + "/N" + std::to_string(n) + "/budget" + std::to_string(mb) + "MB",
            [=](benchmark::State& st) { BM_Memory(st, k, n, mb, int64_t{1} << 40); })
            ->Iterations(1);
  // Rows per batch for the conv decoder's native lanes.
  for (int64_t rows : {32, 64, 128, 512, 2048})
    reg("rows/conv/fast/" + std::to_string(rows), [=](benchmark::State& st) {
      BM_Encoder(st, "conv", true, rows, 16, K, N, "conv fast rows=" + std::to_string(rows) + " (16 queries)");
    })->MinTime(0.5);

  benchmark::Initialize(&rargc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  PrintSummary();
  benchmark::Shutdown();
  std::filesystem::remove_all(g_dir);
  return 0;
}
