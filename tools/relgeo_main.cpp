// relgeo: the command-line tool. Each subcommand lives in its own cmd_*.cpp file.
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "relgeo/threads.h"

int main(int argc, char** argv) {
  using namespace relgeo::cli;
  CLI::App app{"relgeo: cross-model retrieval with relative geodesic representations.\n"
               "Run 'relgeo COMMAND --help' for a command's flags and examples."};
  app.require_subcommand(1);
  app.add_flag("-q,--quiet", Globals().quiet, "No progress bars or informational output");
  app.add_option("--threads", Globals().threads, "Compute threads (default: all cores)");
  app.parse_complete_callback([] { relgeo::ConfigureThreads(Globals().threads); });
  AddRegisteredCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "relgeo: error: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const CommandError& e) {
    std::cerr << "relgeo: error: " << e.status.message() << "\n";
    return ExitCodeFor(e.status);
  }
  return 0;
}
