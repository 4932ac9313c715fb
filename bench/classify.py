"""Throughput of `miner classify` end to end on one core (JSONL in, JSONL out), then on a local Dask cluster.

    .venv/bin/python bench/classify.py [--posts 100000] [--model DIR]

Builds a JSONL file of real post texts (the shared Free and Spotify datasets when present, else the labelled
corpus) repeated up to --posts, classifies it with the default model exactly as `miner classify` does
(language id, normalisation, lemmatisation, features, model, output), and prints posts/s next to the time
that merely parsing the same file with json.loads takes. Start-up (loading the model and the text pipelines)
is timed apart, then added for an all-in figure.

Then `--engine dask` on the same file: a LocalCluster of 2 single-threaded worker processes (the one
`miner classify --engine dask` starts), Parquet parts out. Its start-up (worker processes, the model and text
pipelines loaded on each) is timed apart too; the speed-up compares the two classify times. Figures only:
nothing is asserted.
"""

from __future__ import annotations

import os

# One core: BLAS and OpenMP pools would otherwise use every core for the sparse-dense products.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from itertools import cycle, islice  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "external"
REAL_FILES = (SHARED / "free-fr" / "posts.csv", SHARED / "spotify-twcs-en" / "posts.csv")
CORPUS = ROOT / "data" / "labeled" / "corpus.jsonl"
WARM_UP = ["la box ne marche plus", "is spotify down?"]


def real_texts() -> list[str]:
    """Texts of the real datasets beside the repository, or of the labelled corpus without them."""
    if all(path.exists() for path in REAL_FILES):
        texts = []
        for path in REAL_FILES:
            with path.open(encoding="utf-8", newline="") as handle:
                texts += [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]
        return texts
    return [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def write_input(path: Path, posts: int) -> None:
    texts = real_texts()
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(islice(cycle(texts), posts)):
            handle.write(json.dumps({"id": f"b{i}", "text": text}, ensure_ascii=False) + "\n")


def parse_seconds(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            json.loads(line)
    return time.perf_counter() - start


def dask_seconds(source: Path, out_dir: Path, model: Path | None) -> tuple[float, float]:
    """Seconds to start the local cluster with the model loaded and warmed up on every worker (what the
    single process's start-up does), then to classify the file on it."""
    from distributed import Client

    from miner.distributed import ModelPlugin, classify_distributed, local_cluster

    start = time.perf_counter()
    with local_cluster() as cluster, Client(cluster) as client:
        client.register_plugin(ModelPlugin.for_model(model))  # the run below finds it registered
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        classify_distributed([source], out_dir, model, cluster.scheduler_address)
        return startup_s, time.perf_counter() - start


def report_dask(posts: int, single_s: float, startup_s: float, classify_s: float) -> None:
    print(f"dask start-up    {startup_s:.2f} s (2 worker processes, each loading the model and pipelines)")
    print(f"dask classify    {classify_s:.2f} s = {posts / classify_s:,.0f} posts/s (2 workers x 1 thread)")
    print(f"dask speed-up    {single_s / classify_s:.2f}x over one process")
    total_s = startup_s + classify_s
    print(f"dask w/ start-up {total_s:.2f} s = {posts / total_s:,.0f} posts/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/DEFAULT)")
    args = parser.parse_args()
    all_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if all_cpus:
        os.sched_setaffinity(0, {min(all_cpus)})

    from miner.batch import JsonlWriter, classify_file
    from miner.classify import load_model

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "posts.jsonl", Path(tmp) / "out.jsonl"
        write_input(source, args.posts)
        start = time.perf_counter()
        model = load_model(args.model)
        model.predict_frame(WARM_UP)  # loads the spaCy pipelines, lookup tables and language model once
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        with target.open("w", encoding="utf-8") as out:
            summary = classify_file(model, source, JsonlWriter(out))
        classify_s = time.perf_counter() - start
        parse_s = parse_seconds(source)
        size_mb = source.stat().st_size / 1e6
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if all_cpus:
            os.sched_setaffinity(0, all_cpus)  # the Dask workers inherit it: give them every core back
        dask_s = dask_seconds(source, Path(tmp) / "parts", args.model)
    print(f"model            {model.version}")
    print(f"start-up         {startup_s:.2f} s (model file, spaCy pipelines, lookup tables, language model)")
    print(f"input            {summary.read:,} posts ({size_mb:.1f} MB JSONL), {summary.classified:,} done")
    print(f"classify         {classify_s:.2f} s = {summary.classified / classify_s:,.0f} posts/s (one core)")
    print(f"json.loads only  {parse_s:.2f} s = {summary.read / parse_s:,.0f} posts/s")
    print(f"ratio            classify takes {classify_s / parse_s:.1f}x the time of parsing alone")
    total_s = startup_s + classify_s
    print(f"with start-up    {total_s:.2f} s = {summary.classified / total_s:,.0f} posts/s")
    print(f"peak memory      {peak_mb:,.0f} MB (max RSS, single process)")
    report_dask(summary.classified, classify_s, *dask_s)
    print(f"machine          {platform.platform()}, Python {platform.python_version()}")
    print(f"cpus             {os.cpu_count()} (one process: pinned to one; Dask: all {len(all_cpus) or '?'})")


if __name__ == "__main__":
    main()
