"""`miner classify` throughput on one core, end to end, next to bare JSON parsing; then the Dask engine.

    .venv/bin/python bench/classify.py [--posts 100000] [--runs 3] [--cpu N] [--model DIR] [--no-dask]
                                       [--dask-runs 3] [--dask-large 500000]

Inputs, JSONL built in a temporary folder from the real posts of data/demo (the Free and Spotify exports,
18,198 posts, 17,598 distinct texts):
- "repeated": those posts cycled up to --posts, each text ~5.5 times (the input issue 19 measured). Retweets
  and reposts repeat texts word for word, and `miner classify` classifies a text once (its memo of outputs);
- "distinct": the same posts with a "#<row>" tag appended to each text, so that no text repeats: every post
  goes through the whole pipeline, the cost of an input without repeats.

One core: `miner classify FILE -o OUT.jsonl` as a user types it, in a fresh process pinned to one core
(start-up, reading, language, text pipeline, features, model, writing), median wall time and CPU of --runs;
bare parsing: a json.loads loop over the same file in a fresh process pinned to the same core, best of
--runs. Printed next to the goals (>= 20,000 posts/s, <= 15x the time of parsing).

Dask: `--engine dask` on a LocalCluster of 2 single-threaded worker processes (the one `miner classify
--engine dask` starts), Parquet parts out, against one process classifying the same file into one Parquet
file, both with the model loaded and warmed up first (start-up timed apart), --dask-runs pairs in turn: the
median speed-up, next to its goal (>= 1.8x), on both inputs and on the distinct posts as CSV (id, text); then
once on --dask-large distinct posts, where the first meeting of the common words, which each worker pays
again (~0.35 s), weighs less. The machine's load average is printed: it has 2 cores, and other work on them
moves the figures. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = (ROOT / "data" / "demo" / "free-fr.csv.gz", ROOT / "data" / "demo" / "spotify-en.csv.gz")
MINER = Path(sys.executable).with_name("miner")
POSTS_GOAL = 20_000  # posts/s, one core, end to end
PARSE_RATIO_GOAL = 15.0  # classify may take at most this many times the time of json.loads alone
DASK_GOAL = 1.8  # speed-up of 2 workers over one process
PARSE = """
import json, sys, time
start = time.perf_counter()
for line in open(sys.argv[1], "rb"):
    json.loads(line)
print(time.perf_counter() - start)
"""
SINGLE = """
import sys, time
from pathlib import Path
from miner.batch import FileClassifier, ParquetWriter, classify_file, warm_up
from miner.predict import load_predictor
classifier = FileClassifier(load_predictor(sys.argv[3] or None))
warm_up(classifier)
start = time.perf_counter()
writer = ParquetWriter(Path(sys.argv[2]))
classify_file(classifier, Path(sys.argv[1]), writer)
writer.close()
print(time.perf_counter() - start)
"""


def demo_texts() -> list[str]:
    """The text of every demo post, in file order."""
    texts = []
    for path in DEMO:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            texts += [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]
    return texts


def write_input(path: Path, posts: int, distinct: bool) -> None:
    """JSONL, or CSV (id, text) for a .csv path."""
    records = (
        {"id": f"b{i}", "text": f"{text} #{i}" if distinct else text}
        for i, text in enumerate(islice(cycle(demo_texts()), posts))
    )
    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            writer = csv.DictWriter(handle, fieldnames=["id", "text"])
            writer.writeheader()
            writer.writerows(records)
        else:
            handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def pinned(cpu: int, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command to completion in a child process pinned to one core."""
    return subprocess.run(
        list(command),
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )


def goal(value: float, target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    return f"goal {'>=' if at_least else '<='} {target:,g}: {'met' if met else 'MISSED'}"


def cli_seconds(source: Path, target: Path, cpu: int, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `miner classify SOURCE -o TARGET` in fresh processes on one core."""
    walls, cpus = [], []
    for _ in range(runs):
        before, start = os.times(), time.perf_counter()
        pinned(cpu, str(MINER), "classify", str(source), "-o", str(target))
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(
            after.children_user - before.children_user + after.children_system - before.children_system
        )
    return statistics.median(walls), statistics.median(cpus)


def parse_seconds(source: Path, cpu: int, runs: int) -> float:
    """Best time of a bare json.loads loop over the file, in fresh processes on one core."""
    return min(float(pinned(cpu, sys.executable, "-c", PARSE, str(source)).stdout) for _ in range(runs))


def one_core(name: str, source: Path, folder: Path, cpu: int, runs: int, posts: int) -> None:
    """Print the one-core figures of one input next to their goals."""
    wall, cpu_s = cli_seconds(source, folder / "out.jsonl", cpu, runs)
    parse = parse_seconds(source, cpu, runs)
    rate, ratio = posts / wall, wall / parse
    print(
        f"{name:9s} end to end {wall:5.2f} s wall ({cpu_s:.2f} s CPU) = {rate:7,.0f} posts/s  "
        + goal(rate, POSTS_GOAL, at_least=True)
    )
    print(
        f"{'':9s} json.loads alone {parse:.3f} s: classify takes {ratio:4.1f}x as long  "
        + goal(ratio, PARSE_RATIO_GOAL, at_least=False)
    )


def single_process_seconds(source: Path, target: Path, model: Path | None) -> float:
    """A fresh process classifying the file into one Parquet file, model loaded and warmed up as on a Dask
    worker first: fresh, because the text pipeline's memos would keep the words of an earlier run."""
    command = [sys.executable, "-c", SINGLE, str(source), str(target), str(model or "")]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def dask_seconds(source: Path, out_dir: Path, model: Path | None) -> tuple[float, float]:
    """Seconds to start the local cluster with the model loaded and warmed up on every worker, then to
    classify the file on it."""
    from distributed import Client

    from miner.distributed import ModelPlugin, classify_distributed, local_cluster

    start = time.perf_counter()
    with local_cluster() as cluster, Client(cluster) as client:
        client.register_plugin(ModelPlugin.for_model(model))  # the run below finds it registered
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        classify_distributed([source], out_dir, model, cluster.scheduler_address)
        return startup_s, time.perf_counter() - start


def dask_figures(name: str, source: Path, folder: Path, model: Path | None, posts: int, runs: int) -> None:
    """One process then Dask on the same input, `runs` times in turn: each pair's figures, then the median
    speed-up next to its goal."""
    speedups = []
    for _ in range(runs):
        single_s = single_process_seconds(source, folder / "single.parquet", model)
        shutil.rmtree(folder / f"parts-{source.stem}", ignore_errors=True)
        startup_s, dask_s = dask_seconds(source, folder / f"parts-{source.stem}", model)
        speedups.append(single_s / dask_s)
        print(
            f"{name:9s} one process {single_s:6.2f} s = {posts / single_s:7,.0f} posts/s; Dask, 2 workers "
            f"{dask_s:6.2f} s = {posts / dask_s:7,.0f} posts/s (cluster start-up {startup_s:.1f} s apart): "
            f"{speedups[-1]:.2f}x"
        )
    median = statistics.median(speedups)
    print(f"{'':9s} speed-up, median of {runs}: {median:.2f}x  " + goal(median, DASK_GOAL, at_least=True))


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--cpu", type=int, default=min(os.sched_getaffinity(0)), help="core for one-core runs"
    )
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/DEFAULT)")
    parser.add_argument("--no-dask", action="store_true", help="one-core figures only")
    parser.add_argument("--dask-runs", type=int, default=3, help="one-process / Dask pairs per input")
    parser.add_argument(
        "--dask-large", type=int, default=500_000, help="posts of the larger distinct input (0: none)"
    )
    args = parser.parse_args()
    print(
        f"machine   {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"one-core runs on CPU {args.cpu}; load average {load()} (1, 5, 15 min)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {"repeated": folder / "repeated.jsonl", "distinct": folder / "distinct.jsonl"}
        for name, path in inputs.items():
            write_input(path, args.posts, distinct=name == "distinct")
        # builds the disk cache if need be: every timed run then starts from it
        pinned(args.cpu, str(MINER), "classify", str(inputs["repeated"]), "-o", str(folder / "warm.jsonl"))
        print(f"input     {args.posts:,} posts each ({inputs['repeated'].stat().st_size / 1e6:.1f} MB JSONL)")
        for name, path in inputs.items():
            one_core(name, path, folder, args.cpu, args.runs, args.posts)
        if not args.no_dask:
            for name, path in inputs.items():
                dask_figures(name, path, folder, args.model, args.posts, args.dask_runs)
            as_csv = folder / "distinct.csv"
            write_input(as_csv, args.posts, distinct=True)
            dask_figures("dist. CSV", as_csv, folder, args.model, args.posts, args.dask_runs)
            if args.dask_large:
                large = folder / "large.jsonl"
                write_input(large, args.dask_large, distinct=True)
                megabytes = large.stat().st_size / 1e6
                print(f"input     {args.dask_large:,} distinct posts ({megabytes:.1f} MB JSONL)")
                dask_figures("distinct", large, folder, args.model, args.dask_large, 1)
    print(f"load average {load()} after")


if __name__ == "__main__":
    main()
