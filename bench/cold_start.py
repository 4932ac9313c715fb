"""Cold start of the `miner` command: `miner --help`, and `miner classify` of one post, in fresh processes.

    .venv/bin/python bench/cold_start.py [--runs 7]

Each figure is the median wall time of --runs fresh processes (the console script, as a user types it), with
the CPU time they used beside it, printed next to its goal. `miner classify` is timed twice: with the disk
cache (miner.cache) already built, every call after the first on a machine; and once with an empty cache,
the first call after an install or upgrade, which builds it. The import floor is what importing the
libraries a classification needs costs alone (NumPy, SciPy's sparse matrices, py3langid, Typer, Rich: no
pandas, scikit-learn or spaCy since miner.predict and miner.tokenizer), so the rest is ours. The load average
is printed: on a shared machine, wall times move with it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINER = Path(sys.executable).with_name("miner")
HELP_GOAL_S = 0.5
CLASSIFY_GOAL_S = 1.5
POST = {"id": "1", "text": "Impossible de me connecter à l'appli Free depuis ce matin, la box redémarre"}
IMPORT_FLOOR = "import numpy, scipy.sparse, py3langid, typer, rich"


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of `command`, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(runs: int, command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Median wall and median CPU seconds over `runs` runs."""
    times = [timed(command, env) for _ in range(runs)]
    return statistics.median(w for w, _ in times), statistics.median(c for _, c in times)


def line(what: str, wall: float, cpu: float, goal: float | None = None) -> str:
    verdict = "" if goal is None else f"  goal <= {goal:.1f} s: {'met' if wall <= goal else 'MISSED'}"
    return f"{what:38s} {wall:5.2f} s wall, {cpu:5.2f} s CPU{verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per figure (median)")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        post = Path(tmp) / "post.jsonl"
        post.write_text(json.dumps(POST, ensure_ascii=False) + "\n", encoding="utf-8")
        classify = [str(MINER), "classify", str(post)]
        timed(classify, env)  # builds the user's cache if this machine has none yet
        print(f"load average  {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min) before")
        print(line("miner --help", *median_of(args.runs, [str(MINER), "--help"], env), HELP_GOAL_S))
        print(line("miner classify, one post", *median_of(args.runs, classify, env), CLASSIFY_GOAL_S))
        empty = {**env, "MINER_CACHE_DIR": str(Path(tmp) / "empty-cache")}
        print(line("miner classify, one post, empty cache", *timed(classify, empty)))
        floor = median_of(args.runs, [sys.executable, "-c", IMPORT_FLOOR], env)
        print(line("import floor (libraries alone)", *floor))
        print(f"load average  {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min) after")
    print(f"machine       {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
