// t2s: one binary, one subcommand per stage (DESIGN §11). Exit status: 0 success, 1 the work failed,
// 2 bad usage or bad input.
#include <hdf5.h>
#include <mpi.h>
#include <simdjson.h>

#include <boost/version.hpp>
#include <fstream>

#include "commands.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/interrupt.hpp"
#include "t2s/core/version.hpp"

namespace t2s::cli {

std::ostream& Context::null_stream() {
  static std::ofstream sink;  // never opened: writes are discarded
  return sink;
}

nlohmann::json library_versions() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int length = 0;
  MPI_Get_library_version(mpi_version, &length);  // allowed before MPI_Init
  std::string mpi(mpi_version, static_cast<std::size_t>(length));
  mpi = mpi.substr(0, mpi.find(','));
  std::string boost = BOOST_LIB_VERSION;
  for (auto& c : boost)
    if (c == '_') c = '.';
  return {{"hdf5", std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release)},
          {"mpi", mpi},
          {"boost", boost},
          {"simdjson", std::to_string(simdjson::SIMDJSON_VERSION_MAJOR) + "." +
                           std::to_string(simdjson::SIMDJSON_VERSION_MINOR) + "." +
                           std::to_string(simdjson::SIMDJSON_VERSION_REVISION)}};
}

namespace {

std::string version_text() {
  const auto libraries = library_versions();
  return std::string("t2s ") + version() + " (git " + git_revision() + ")\n" + "HDF5 " +
         libraries["hdf5"].get<std::string>() + ", " + libraries["mpi"].get<std::string>() + ", Boost " +
         libraries["boost"].get<std::string>() + ", simdjson " + libraries["simdjson"].get<std::string>();
}

int run(int argc, char** argv, Context& context) {
  CLI::App app{"trace2skill: turn agent trajectories into skills, at cluster scale.", "t2s"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  app.fallthrough();
  add_ingest_command(app, context);
  add_inspect_command(app, context);
  add_export_command(app, context);
  add_synth_command(app, context);
  add_skill_command(app, context);
  add_llm_command(app, context);
  add_score_command(app, context);
  add_summarize_command(app, context);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  add_evolve_command(app, context, command_line);
  add_rollout_command(app, context, command_line);
  add_eval_command(app, context, command_line);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return context.comm.is_main() ? app.exit(e) : 0;  // --help, --version
  } catch (const CLI::ParseError& e) {
    if (context.comm.is_main()) {
      app.exit(e);
      std::cerr << "Run `t2s --help` or `t2s COMMAND --help` for usage.\n";
    }
    return static_cast<int>(ExitStatus::bad_input);
  }
  return 0;
}

}  // namespace
}  // namespace t2s::cli

int main(int argc, char** argv) {
  using namespace t2s;
  try {
    mpi::Session session(argc, argv);
    cli::Context context{session.world()};
    int status = 0;
    try {
      status = cli::run(argc, argv, context);
      // A usage error can be rank-local (a path missing on one node): the other ranks must not be
      // left waiting in a collective.
      if (status != 0 && context.comm.size() > 1) boost::mpi::environment::abort(status);
      return status;
    } catch (const Interrupted& e) {
      // Every rank stopped together (a collective decision): no abort, rank 0 says why.
      if (context.comm.is_main()) std::cerr << "t2s: interrupted: " << e.what() << "\n";
      return static_cast<int>(e.status());
    } catch (const Error& e) {
      std::cerr << "t2s: error: " << e.what() << "\n";
      status = static_cast<int>(e.status());
    } catch (const std::exception& e) {
      std::cerr << "t2s: error: " << e.what() << "\n";
      status = static_cast<int>(ExitStatus::failure);
    }
    // A failure may be local to one rank: the others must not be left waiting in a collective.
    if (context.comm.size() > 1) boost::mpi::environment::abort(status);
    return status;
  } catch (const std::exception& e) {
    std::cerr << "t2s: error: " << e.what() << "\n";
    return static_cast<int>(ExitStatus::failure);
  }
}
