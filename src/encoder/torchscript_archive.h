// Internal: the checks MetricMap::FromBytes makes on outside bytes before they reach
// LibTorch's loader (docs/design.md §3): a size cap and the ZIP layout that
// torch.jit.save writes (local headers, central directory, end records, ZIP64 when
// present) with a data.pkl record. LibTorch's own reader then parses the archive;
// this only turns away, with a clear message, what is not such an archive at all.
// No LibTorch here, so it builds alone (fuzz/torchscript_archive_fuzzer.cpp).
#pragma once

#include <string>

#include "relgeo/status.h"

namespace relgeo {

// OK or InvalidArgument("not a TorchScript archive: <why>").
Status CheckTorchScriptArchive(const std::string& bytes);

}  // namespace relgeo
