// Runs a helper program (the text demo's embedding script) as a child of the
// relgeo tool, without a shell in between.
#pragma once

#include <string>
#include <vector>

namespace relgeo::cli {

// Runs argv[0] with arguments argv[1..] and waits for it. Its standard output goes
// to relgeo's standard error (relgeo's stdout is kept for results and --json). The
// child is sent SIGTERM if relgeo dies first, so killing relgeo alone does not
// leave it running. Returns its exit status; 128 + the signal if a signal ended it;
// -1 if it could not be started.
int RunChild(const std::vector<std::string>& argv);

}  // namespace relgeo::cli
