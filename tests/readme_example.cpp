// Cross-model search with the C++ API: model A indexes, model B queries.
// Usage: readme_example DB_DIR MODEL_A_DIR MODEL_B_DIR  (directories written by `relgeo train-ae`)
#include <relgeo/relgeo.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

static void Check(const relgeo::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
}

static std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const std::string a = argv[2], b = argv[3];
  relgeo::ConfigureThreads();

  auto db = relgeo::Database::Open(argv[1]);
  Check(db.status());

  // Anchors: the first 16 validation images, encoded by each model in the same order.
  const int64_t K = 16;
  std::vector<int64_t> anchor_ids(K);
  for (int64_t i = 0; i < K; ++i) anchor_ids[i] = i;
  Check((*db)->CreateAnchorSet("anchors", anchor_ids));
  for (const std::string& name : {std::string("A"), std::string("B")}) {
    const std::string dir = name == "A" ? a : b;
    auto val = relgeo::ReadNpyMatrix(dir + "/z_val.npy");
    Check(val.status());
    relgeo::ModelSpec spec;
    spec.name = name;
    spec.map_bytes = ReadFile(dir + "/decoder.pt");  // the decoder is the metric map
    spec.anchor_set = "anchors";
    spec.anchor_latents = relgeo::Matrix::CopyOf(val->view().RowSlice(0, K));
    Check((*db)->RegisterModel(spec));
  }

  relgeo::CollectionOptions options;
  options.anchor_set = "anchors";
  options.index = "Flat";
  Check((*db)->CreateCollection("images", options));

  // Model A indexes the test images (ids 0..n-1) ...
  auto za = relgeo::ReadNpyMatrix(a + "/z_test.npy");
  Check(za.status());
  Check((*db)->BulkAdd("images", "A", {}, *za).status());

  // ... and model B's encodings of the same images find them.
  auto zb = relgeo::ReadNpyMatrix(b + "/z_test.npy");
  Check(zb.status());
  auto hits = (*db)->Search("images", "B", *zb, /*k=*/10);
  Check(hits.status());
  int64_t found = 0;
  for (int64_t q = 0; q < hits->queries; ++q)
    for (int64_t j = 0; j < hits->k; ++j) found += hits->row_ids(q)[j] == q;
  std::printf("top-10 cross-model hits: %lld of %lld\n", static_cast<long long>(found),
              static_cast<long long>(hits->queries));
  return 0;
}
