// libFuzzer target for the checks MetricMap::FromBytes makes before LibTorch sees a
// map's (or encoder's) bytes: InspectMapArchive (src/encoder/torchscript_archive.cpp),
// a size cap and the ZIP layout of torch.jit.save's archives. Every offset it
// follows comes from the input; ASan checks each read stays inside it. Checks: an
// accepted input starts with a ZIP local header and names a data.pkl record; a
// refused one is InvalidArgument with a message; a .pt2 names archive_format.
#include <string>

#include "encoder/torchscript_archive.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace relgeo;
  using relgeo::fuzz::Check;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Result<MapArchiveKind> kind = InspectMapArchive(bytes);
  if (!kind.ok()) {
    Check(kind.status().code() == StatusCode::kInvalidArgument && !kind.status().message().empty());
    return 0;
  }
  Check(size >= 26 && bytes.compare(0, 4, "PK\x03\x04", 4) == 0);
  if (*kind == MapArchiveKind::kTorchScript) Check(bytes.find("data.pkl") != std::string::npos);
  if (*kind != MapArchiveKind::kTorchScript) Check(bytes.find("archive_format") != std::string::npos);
  Check(CheckTorchScriptArchive(bytes).ok() == (*kind == MapArchiveKind::kTorchScript));
  return 0;
}
