#include <cstring>
#include <sstream>

#include "encoder/aoti_map.h"
#include "encoder/torch_internal.h"
#include "encoder/torchscript_archive.h"
#include "relgeo/file_io.h"
#include "util/status_error.h"

namespace relgeo {

namespace {
// c10 and TorchScript messages carry backtraces and interpreter frames; the line
// that says what went wrong is the last "...Error: ..." line, else the first line.
std::string EssentialMessage(const std::string& msg) {
  std::string best = msg.substr(0, msg.find('\n'));
  size_t start = 0;
  while (start < msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    std::string line = msg.substr(start, end - start);
    if (line.find("Error: ") != std::string::npos) best = line;
    start = end + 1;
  }
  return best;
}
}  // namespace

// What was thrown keeps its code: a Status carried by StatusError comes out as it
// went in. LibTorch's own errors (c10::Error, and the std::runtime_error family that
// TorchScript's `raise` / `assert` and its loader throw) mean the map or its input
// was refused: InvalidArgument. Running out of memory is Internal.
Status GuardTorch(const std::string& context, const std::function<void()>& fn) {
  try {
    fn();
    return Status::OK();
  } catch (const internal::StatusError& e) {
    return e.status().WithContext(context);
  } catch (const c10::Error& e) {
    return Status::InvalidArgument(context + ": " + EssentialMessage(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return Status::Internal(context + ": out of memory");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(context + ": " + EssentialMessage(e.what()));
  }
}

Matrix ToMatrix(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  Matrix m(c.size(0), c.dim() > 1 ? c.size(1) : 1);
  std::memcpy(m.data(), c.data_ptr<float>(), sizeof(float) * m.size());
  return m;
}

Result<torch::Tensor> MetricMap::Impl::Forward(const torch::Tensor& x) const {
  torch::Tensor out;
  Status st = GuardTorch("metric map forward failed", [&] {
    c10::InferenceMode guard;
    if (package) {
      out = RunAotiPackage(*package, x);
      return;
    }
    torch::jit::IValue v = module.forward({x});
    if (!v.isTensor())
      throw internal::StatusError(Status::InvalidArgument("forward returned " + v.tagKind() + ", expected a tensor"));
    out = v.toTensor();
  });
  RELGEO_RETURN_IF_ERROR(st);
  if (out.dim() < 1 || out.size(0) != x.size(0)) {
    std::ostringstream s;
    s << "metric map returned shape " << out.sizes() << " for " << x.size(0) << " inputs; expected (n x ...)";
    return Status::InvalidArgument(s.str());
  }
  if (!out.is_floating_point()) return Status::InvalidArgument("metric map returned a non-floating-point tensor");
  // The width spelled out rather than -1: reshape cannot infer -1 for a tensor with
  // no elements (and would throw here, outside the guard).
  int64_t width = 1;
  for (int64_t i = 1; i < out.dim(); ++i) width *= out.size(i);
  out = out.reshape({x.size(0), width});
  if (out.scalar_type() != torch::kFloat32) out = out.to(torch::kFloat32);
  if (output_dim != 0 && out.size(1) != output_dim) {
    return Status::InvalidArgument("metric map returned " + std::to_string(out.size(1)) + " outputs per row, earlier " +
                                   std::to_string(output_dim));
  }
  return out;
}

namespace {

// The latent dimension: an explicit option, the module's `input_dim` attribute, or
// the column count of its first 2-D parameter (the first Linear layer's weight).
Result<int64_t> InferInputDim(torch::jit::Module& m) {
  if (m.hasattr("input_dim")) {
    auto v = m.attr("input_dim");
    if (v.isInt()) return v.toInt();
  }
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    if (p.value.dim() == 2) return p.value.size(1);
  }
  return Status::InvalidArgument(
      "cannot infer the metric map's latent dimension (no `input_dim` attribute and no 2-D parameter); pass it explicitly");
}

Result<torch::Device> ParseDevice(const std::string& name) {
  torch::Device dev(torch::kCPU);
  Status st = GuardTorch("bad device '" + name + "'", [&] { dev = torch::Device(name); });
  RELGEO_RETURN_IF_ERROR(st);
  if (dev.is_cuda() && !torch::hasCUDA())
    return Status::Unimplemented("device '" + name + "' requested, but this LibTorch has no CUDA support or no GPU is visible");
  if (!dev.is_cpu() && !dev.is_cuda()) return Status::InvalidArgument("unsupported device '" + name + "' (use cpu or cuda)");
  return dev;
}

}  // namespace

MetricMap::MetricMap(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricMap::~MetricMap() = default;
int64_t MetricMap::input_dim() const { return impl_->input_dim; }
int64_t MetricMap::output_dim() const { return impl_->output_dim; }
OutputDistance MetricMap::distance() const { return impl_->distance; }
const std::string& MetricMap::device() const { return impl_->device_name; }

Result<std::shared_ptr<MetricMap>> MetricMap::Load(const std::string& path, const MetricMapOptions& options) {
  // Read whole, so only a regular file of bounded size: /dev/zero or a FIFO must not
  // be read (or waited on) without end.
  RELGEO_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path, kMaxMapFileBytes));
  auto r = FromBytes(bytes, options);
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Result<std::shared_ptr<MetricMap>> MetricMap::FromBytes(const std::string& bytes, const MetricMapOptions& options) {
  // Size cap and ZIP layout first: only an archive torch.jit.save or AOTInductor could
  // have written reaches LibTorch's loaders (torchscript_archive.h).
  RELGEO_ASSIGN_OR_RETURN(MapArchiveKind kind, InspectMapArchive(bytes));
  if (options.input_dim < 0 || options.input_dim > kMaxLatentDim)
    return Status::InvalidArgument("latent dimension " + std::to_string(options.input_dim) + " is out of range [1, " +
                                   std::to_string(kMaxLatentDim) + "] (0: infer it from the map)");
  RELGEO_ASSIGN_OR_RETURN(torch::Device device, ParseDevice(options.device));
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->device_name = options.device;
  impl->distance = options.distance;
  int64_t d = options.input_dim;
  if (kind == MapArchiveKind::kExportedProgram)
    return Status::InvalidArgument(
        "this .pt2 archive holds no AOTInductor model (an ExportedProgram saved with torch.export.save?); "
        "compile it with torch._inductor.aoti_compile_and_package (docs/export.md)");
  if (kind == MapArchiveKind::kAotiPackage) {
    RELGEO_ASSIGN_OR_RETURN(impl->package, LoadAotiPackage(bytes, device, d));
    d = AotiInputDim(*impl->package);
  } else {
    Status st = GuardTorch("not a loadable TorchScript module or .pt2 package", [&] {
      std::istringstream in(bytes);
      impl->module = torch::jit::load(in, device);
      impl->module.eval();
    });
    if (!st.ok()) return Status::InvalidArgument(st.message());
    if (d <= 0) {
      RELGEO_ASSIGN_OR_RETURN(d, InferInputDim(impl->module));
    }
  }
  // A module's `input_dim` attribute (or a 0-column parameter) can say 0 or less, or
  // more than any latent space (the probe below is 2 x d floats).
  if (d <= 0 || d > kMaxLatentDim)
    return Status::InvalidArgument("the metric map's latent dimension is " + std::to_string(d) +
                                   " (from its input_dim attribute or first 2-D parameter); it must be in [1, " +
                                   std::to_string(kMaxLatentDim) + "]");
  impl->input_dim = d;
  // Probe with two rows: proves forward accepts (n x d) and fixes the output width m.
  torch::Tensor probe;
  Status st = GuardTorch("allocating a (2 x " + std::to_string(d) + ") probe batch", [&] {
    probe = torch::zeros({2, d}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  });
  RELGEO_RETURN_IF_ERROR(st);
  auto out = impl->Forward(probe);
  if (!out.ok())
    return out.status().WithContext("metric map does not accept a (2 x " + std::to_string(d) + ") latent batch");
  // Every encoder divides by the output width (and a 0-wide output carries no
  // geometry to pull back), so an empty output is refused here, not at the first encode.
  if (out->size(1) == 0) {
    std::ostringstream s;
    s << "metric map returns 0 outputs per row (shape " << out->sizes() << " for a (2 x " << d
      << ") latent batch); it must return at least one value per row";
    return Status::InvalidArgument(s.str());
  }
  impl->output_dim = out->size(1);
  if (impl->distance == OutputDistance::kFisher && impl->output_dim < 2)
    return Status::InvalidArgument("the fisher distance needs at least 2 logits per row");
  return std::shared_ptr<MetricMap>(new MetricMap(std::move(impl)));
}

Result<Matrix> MetricMap::Forward(MatrixView latents) const {
  RELGEO_RETURN_IF_ERROR(CheckLatents(latents, impl_->input_dim, "latents"));
  RELGEO_ASSIGN_OR_RETURN(torch::Tensor out, impl_->Forward(TensorView(latents).to(impl_->device)));
  return ToMatrix(out);
}

}  // namespace relgeo
