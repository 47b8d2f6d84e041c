// relgeo ingest: bulk indexing split into a driver and any number of workers, on
// any scheduler (a shell loop, xargs -P, SLURM, Kubernetes jobs; Dask goes through
// the same library calls from Python). docs/distributed.md "Command line".
//
//   prepare  (driver)  the job directory: ticket, map, anchors, options
//   encode   (worker)  no database: one part of the latents -> a sorted item file
//   commit   (driver)  every part file in ONE atomic ingest, then the index update
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "cli_common.h"
#include "db_common.h"
#include "json_text.h"
#include "npy_input.h"
#include "relgeo/database.h"
#include "relgeo/file_io.h"
#include "relgeo/metric_map.h"
#include "relgeo/npy.h"
#include "relgeo/relative_encoder.h"

namespace relgeo::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kJobFormat = "relgeo-ingest-job 1";
constexpr int64_t kMaxJobFileBytes = 1 << 20;  // job.json, ticket.bin: small by construction
constexpr int64_t kMaxParts = 1000000;

std::string JobFile(const std::string& job, const char* name) { return (fs::path(job) / name).string(); }

// What prepare wrote, read back and checked (a worker trusts nothing it is handed).
struct Job {
  std::string collection, model, ticket, map_bytes;
  EncoderOptions encoder;
  OutputDistance distance = OutputDistance::kEuclidean;
  Matrix anchors;
};

Job ReadJob(const std::string& dir, bool with_map) {
  const std::string where = "--job " + dir;
  const std::string text = OrDie(ReadFileBytes(JobFile(dir, "job.json"), kMaxJobFileBytes), where);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != kJobFormat || !j["collection"].is_string() ||
      !j["model"].is_string() || !j["steps"].is_number_integer() || !j["mode"].is_string() ||
      !j["distance"].is_string())
    throw CommandError{Status::Corruption(where + ": job.json is not a relgeo ingest job (made by 'relgeo ingest prepare')")};
  Job job;
  job.collection = j["collection"].get<std::string>();
  job.model = j["model"].get<std::string>();
  job.encoder.steps = static_cast<int>(std::clamp<int64_t>(j["steps"].get<int64_t>(), 0, kMaxSteps + 1));
  job.encoder.mode = OrDie(ParsePathMode(j["mode"].get<std::string>()), where + ": job.json");
  job.distance = OrDie(ParseOutputDistance(j["distance"].get<std::string>()), where + ": job.json");
  job.ticket = OrDie(ReadFileBytes(JobFile(dir, "ticket.bin"), kMaxJobFileBytes), where);
  if (with_map) {
    job.map_bytes = OrDie(ReadFileBytes(JobFile(dir, "map.bin"), kMaxMapFileBytes), where);
    job.anchors = OrDie(ReadNpyMatrix(JobFile(dir, "anchors.npy")), where);
  }
  return job;
}

// ------------------------------------------------------------------ prepare
struct PrepareArgs {
  std::string db, collection, model, job;
};

void RunPrepare(const PrepareArgs& a) {
  auto db = OpenDbToRead(a.db, false);
  IngestTicket t = OrDie(db->PrepareIngest(a.collection, a.model));
  CloseOrWarn(db);
  std::error_code ec;
  fs::create_directories(a.job, ec);
  if (ec) throw CommandError{Status::IOError("--job " + a.job + ": " + ec.message())};
  // The map and anchors first, the job description last: a job.json present means a
  // complete job directory.
  OrDie(WriteFileAtomically(JobFile(a.job, "map.bin"), {t.map_bytes}), "--job");
  OrDie(WriteNpyMatrix(JobFile(a.job, "anchors.npy"), t.anchor_latents), "--job");
  OrDie(WriteFileAtomically(JobFile(a.job, "ticket.bin"), {t.ticket}), "--job");
  json j = {{"format", kJobFormat},
            {"collection", a.collection},
            {"model", a.model},
            {"steps", t.steps},
            {"mode", PathModeName(t.mode)},
            {"distance", OutputDistanceName(t.distance)},
            {"anchors", t.anchor_latents.rows()},
            {"latent_dim", t.anchor_latents.cols()}};
  const std::string text = Dump(j, 1) + "\n";
  OrDie(WriteFileAtomically(JobFile(a.job, "job.json"), {text}), "--job");
  Say("prepared job " + Txt(a.job) + ": collection " + Txt(a.collection) + ", model " + Txt(a.model) + ", K=" +
      std::to_string(t.anchor_latents.rows()) + ", d=" + std::to_string(t.anchor_latents.cols()));
}

// ------------------------------------------------------------------ encode
struct EncodeArgs {
  std::string job, latents, ids, part = "0/1", out;
  double budget_mb = 256;
};

// "I/P" -> (I, P) with 0 <= I < P <= kMaxParts, or a usage error naming --part.
std::pair<int64_t, int64_t> ParsePart(const std::string& s) {
  static const std::regex re("([0-9]{1,7})/([0-9]{1,7})");
  std::smatch m;
  if (std::regex_match(s, m, re)) {
    const int64_t i = std::stoll(m[1]), p = std::stoll(m[2]);
    if (p >= 1 && p <= kMaxParts && i < p) return {i, p};
  }
  throw CommandError{Status::InvalidArgument("--part must be I/P with 0 <= I < P <= " + std::to_string(kMaxParts) +
                                             " (this worker's share of the rows), got '" + s + "'")};
}

void RunEncode(const EncodeArgs& a) {
  const auto [part, parts] = ParsePart(a.part);
  const int64_t budget = MemoryBudgetBytes("--memory-mb", a.budget_mb);
  Job job = ReadJob(a.job, true);
  auto latents = OpenNpyOrDie(a.latents, "--latents");
  std::unique_ptr<NpyReader> ids;
  if (!a.ids.empty()) {
    ids = OpenNpyOrDie(a.ids, "--ids", NpyReader::Kind::kIds);
    if (ids->rows() != latents->rows())
      throw CommandError{Status::InvalidArgument("--ids has " + std::to_string(ids->rows()) + " ids for " +
                                                 std::to_string(latents->rows()) + " rows of --latents")};
  }
  if (latents->cols() != job.anchors.cols())
    throw CommandError{Status::InvalidArgument("--latents has " + std::to_string(latents->cols()) +
                                               " columns; the job's model takes d=" +
                                               std::to_string(job.anchors.cols()))};
  // Rows [begin, end) of the whole input: parts of one file compose, ids default to
  // global row numbers.
  const int64_t n = latents->rows(), begin = n * part / parts, end = n * (part + 1) / parts;
  if (end == begin) {
    Say("part " + a.part + " of " + std::to_string(n) + " rows is empty: no file written");
    return;
  }
  MetricMapOptions mo;
  mo.input_dim = job.anchors.cols();
  mo.distance = job.distance;
  auto map = OrDie(MetricMap::FromBytes(job.map_bytes, mo), "--job " + a.job + ": map.bin");
  job.encoder.memory_budget_bytes = budget;
  auto enc = OrDie(RelativeEncoder::Create(map, job.anchors, job.encoder), "creating the encoder");
  OrDie(latents->Seek(begin), "--latents");
  if (ids) OrDie(ids->Seek(begin), "--ids");
  Matrix reps(end - begin, job.anchors.rows());
  std::vector<int64_t> all_ids(static_cast<size_t>(end - begin));
  Progress bar("encode", end - begin, "items");
  Matrix block;
  std::vector<int64_t> block_ids;
  for (int64_t done = 0; done < end - begin;) {
    const int64_t got = OrDie(latents->ReadRows(std::min<int64_t>(1024, end - begin - done), &block), "--latents");
    if (got == 0) throw CommandError{Status::Corruption("--latents " + a.latents + " ended early")};
    if (ids) {
      if (OrDie(ids->ReadIds(got, &block_ids), "--ids") != got)
        throw CommandError{Status::Corruption("--ids " + a.ids + " ended early")};
      std::copy(block_ids.begin(), block_ids.end(), all_ids.begin() + done);
    } else {
      for (int64_t i = 0; i < got; ++i) all_ids[static_cast<size_t>(done + i)] = begin + done + i;
    }
    Matrix r = OrDie(enc->Encode(block), "--latents rows " + std::to_string(begin + done) + "..");
    std::copy(r.data(), r.data() + r.size(), reps.row(done));
    done += got;
    bar.Update(done);
  }
  bar.Finish();
  const std::string out = a.out.empty() ? JobFile(a.job, "") + "part-" + std::to_string(part) + ".sst" : a.out;
  OrDie(WriteItemFile(job.ticket, out, all_ids, reps), "--out " + out);
  Say("wrote " + std::to_string(end - begin) + " items (rows " + std::to_string(begin) + ".." +
      std::to_string(end - 1) + ") to " + Txt(out));
}

// ------------------------------------------------------------------ commit
struct CommitArgs {
  std::string db, job;
  std::vector<std::string> files;
  bool keep = false, json = false;
};

void RunCommit(const CommitArgs& a) {
  Job job = ReadJob(a.job, false);
  std::vector<std::string> files = a.files;
  if (files.empty()) {  // every part file in the job directory, in name order
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(a.job, ec))
      if (e.path().extension() == ".sst") files.push_back(e.path().string());
    if (ec) throw CommandError{Status::IOError("--job " + a.job + ": " + ec.message())};
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw CommandError{Status::InvalidArgument("--job " + a.job + " has no part files (*.sst): run 'relgeo ingest encode' first")};
  }
  auto db = OpenDb(a.db, false);
  IngestStats st = OrDie(db->IngestItemFiles(job.collection, job.model, job.ticket, files));
  if (st.index_not_saved.empty()) {
    Close(db);
  } else {
    Warn("the index was not saved (" + st.index_not_saved + "); it is rebuilt from the database on the next open");
    CloseOrWarn(db);
  }
  if (!a.keep)
    for (const auto& f : files) std::remove(f.c_str());
  if (a.json) {
    std::cout << Dump({{"files", st.files},
                       {"items", st.items},
                       {"replaced", st.replaced},
                       {"read_seconds", st.read_seconds},
                       {"ingest_seconds", st.ingest_seconds},
                       {"index_seconds", st.index_seconds}})
              << "\n";
  }
  char line[256];
  std::snprintf(line, sizeof line, "committed %lld items (%lld replaced) from %lld files in one ingest", 
                static_cast<long long>(st.items), static_cast<long long>(st.replaced),
                static_cast<long long>(st.files));
  Say(line);
}

void RegisterIngest(CLI::App& app) {
  CLI::App* g = app.add_subcommand("ingest", "Bulk indexing on many machines: prepare a job, encode parts anywhere, commit once");
  g->require_subcommand(1);
  g->footer("Example (two workers with xargs; any scheduler works):\n"
            "  relgeo ingest prepare --db db --collection C --model A --job job\n"
            "  seq 0 1 | xargs -P2 -I{} relgeo --threads 1 ingest encode --job job --latents z.npy --part {}/2\n"
            "  relgeo ingest commit --db db --job job\n"
            "Workers need only the job directory and their latents; the commit is all or nothing.");

  auto p = std::make_shared<PrepareArgs>();
  CLI::App* prep = g->add_subcommand("prepare", "Write a job directory: the model's map, anchors and the collection's options");
  prep->add_option("--db", p->db, "Database directory")->required();
  prep->add_option("--collection", p->collection, "Collection to add to")->required();
  prep->add_option("--model", p->model, "Model that produced the latents")->required();
  prep->add_option("--job", p->job, "Job directory to create (shared with the workers)")->required();
  prep->callback([p] { RunPrepare(*p); });

  auto e = std::make_shared<EncodeArgs>();
  CLI::App* enc = g->add_subcommand("encode", "Worker: encode part I of P of the latents into a sorted item file (no database)");
  enc->add_option("--job", e->job, "Job directory from 'ingest prepare'")->required()->check(CLI::ExistingDirectory);
  enc->add_option("--latents", e->latents, "n x d .npy latents (the whole input; --part picks the rows)")
      ->required()
      ->check(CLI::ExistingFile);
  enc->add_option("--ids", e->ids, "1-D int .npy of n item ids (default: row numbers)")->check(CLI::ExistingFile);
  enc->add_option("--part", e->part, "I/P: rows [I n/P, (I+1) n/P) of the input (default 0/1: all)");
  enc->add_option("--out", e->out, "Item file to write (default JOB/part-I.sst)");
  enc->add_option("--memory-mb", e->budget_mb, "Encoder buffer budget in MiB (default 256)");
  enc->callback([e] { RunEncode(*e); });

  auto c = std::make_shared<CommitArgs>();
  CLI::App* com = g->add_subcommand("commit", "Ingest the part files in one atomic step and update the index");
  com->add_option("--db", c->db, "Database directory")->required();
  com->add_option("--job", c->job, "Job directory from 'ingest prepare'")->required()->check(CLI::ExistingDirectory);
  com->add_option("files", c->files, "Part files (default: JOB/*.sst)");
  com->add_flag("--keep", c->keep, "Keep the part files after the ingest");
  com->add_flag("--json", c->json, "Print the ingest's counts and times as JSON");
  com->callback([c] { RunCommit(*c); });
}

const bool registered = RegisterCommand(35, RegisterIngest);

}  // namespace
}  // namespace relgeo::cli
