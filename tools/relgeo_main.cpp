// relgeo: the command-line tool. Each subcommand lives in its own cmd_*.cpp file.
#include <cerrno>
#include <cstdio>
#include <exception>
#include <iostream>
#include <system_error>

#include "cli_common.h"
#include "relgeo/threads.h"

namespace {

// Errors are one line; whatever they echo (names, paths, the user's arguments) is
// written with control characters escaped, so nothing reaches the terminal raw.
int Fail(const std::string& message, int code) {
  std::cout.flush();
  std::cerr << "relgeo: error: " << relgeo::PrintableText(message) << "\n";
  return code;
}

// What the command wrote to stdout must have arrived: a full disk or a closed pipe
// is a failure (exit 1), not a silent truncation.
int CheckStdout() {
  errno = 0;
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
    const int e = errno;
    return Fail("cannot write to standard output" + (e != 0 ? ": " + std::error_code(e, std::generic_category()).message()
                                                              : std::string()),
                1);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace relgeo::cli;
  CLI::App app{"relgeo: cross-model retrieval with relative geodesic representations.\n"
               "Run 'relgeo COMMAND --help' for a command's flags and examples."};
  app.require_subcommand(1);
  app.add_flag("-q,--quiet", Globals().quiet, "No progress bars or informational output");
  app.add_option("--threads", Globals().threads,
                 "Compute threads, 1-" + std::to_string(relgeo::kMaxThreads) + " (default, or 0: all cores)");
  app.parse_complete_callback([] {
    CheckFlag("--threads", Globals().threads, 0, relgeo::kMaxThreads, "0: all cores");
    relgeo::ConfigureThreads(Globals().threads);
  });
  AddRegisteredCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(std::string(e.what()) + " (see --help)", 2);
  } catch (const CommandError& e) {
    return Fail(e.status.message(), ExitCodeFor(e.status));
  } catch (const std::exception& e) {
    // Nothing should get here (the library returns Status); if it does, one line, not an abort.
    return Fail(std::string("internal error: ") + e.what(), 1);
  }
  return CheckStdout();
}
