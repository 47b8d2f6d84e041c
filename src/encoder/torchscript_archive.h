// Internal: the checks MetricMap::FromBytes makes on outside bytes before they reach
// LibTorch's loader (docs/design.md §3, §4.10): a size cap and the ZIP layout that
// torch.jit.save and torch.export write (local headers, central directory, end
// records, ZIP64 when present), with a data.pkl record (TorchScript) or an
// archive_format record (a .pt2). LibTorch's own reader then parses the archive;
// this only turns away, with a clear message, what is not such an archive at all.
// No LibTorch here, so it builds alone (fuzz/torchscript_archive_fuzzer.cpp).
#pragma once

#include <string>

#include "relgeo/status.h"

namespace relgeo {

enum class MapArchiveKind {
  kTorchScript,      // torch.jit.save: a data.pkl record
  kAotiPackage,      // torch._inductor.aoti_compile_and_package (.pt2 with compiled code)
  kExportedProgram,  // torch.export.save (.pt2 without compiled code: not runnable here)
};

// The size cap and ZIP layout checks, then what kind of archive the entries say it is;
// InvalidArgument("not a TorchScript archive: <why>") for anything else.
Result<MapArchiveKind> InspectMapArchive(const std::string& bytes);

// OK for a TorchScript archive, else InvalidArgument("not a TorchScript archive: <why>").
Status CheckTorchScriptArchive(const std::string& bytes);

}  // namespace relgeo
