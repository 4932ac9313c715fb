"""Import throughput of `miner import` (`miner.ingest.import_file`): synthetic posts, JSONL.gz, into SQLite
and, when MINER_TEST_PG_URL is set, into a throwaway PostgreSQL database.

    .venv/bin/python bench/import_posts.py [--posts 200000]

Writes --posts synthetic French and English posts (id, text, created_at, author, service, like_count) to a
gzipped JSONL file, then times a first import (every post new) and a re-import of the same file (every post
a duplicate, the idempotent path) into a fresh store per database. Prints the machine, then posts/s.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from miner import store
from miner.ingest import import_file
from miner.sources.records import ColumnMap

DEFAULT_POSTS = 200_000
SEED = 7
DAYS = 30  # posts spread over the last month: every date passes the importer's range check
SERVICES = ("free", "orange", "spotify", "instagram", "whatsapp")
TEMPLATES = (
    "{s} est en panne depuis {n} minutes, impossible de se connecter",
    "plus d'internet chez {s} ce matin, la box clignote encore ({n})",
    "is {s} down? my messages won't send, tried {n} times",
    "{s} app keeps crashing on startup, reinstalled {n} times already",
    "merci {s}, tout marche de nouveau après {n} heures",
    "loving the new {s} playlist, {n} songs of pure joy",
)
PG_ENV = "MINER_TEST_PG_URL"
PG_GOAL = 20_000  # posts/s into PostgreSQL (issue 19): at par with SQLite


def write_posts(path: Path, posts: int) -> None:
    """Gzipped JSONL of synthetic posts; numbers in the texts keep them from being all alike."""
    rng = np.random.default_rng(SEED)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    seconds = np.sort(rng.integers(0, DAYS * 86_400, posts))
    templates, services, numbers = (rng.integers(0, k, posts) for k in (len(TEMPLATES), len(SERVICES), 500))
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(posts):
            service = SERVICES[services[i]]
            record = {
                "id": f"bench-{i}",
                "text": TEMPLATES[templates[i]].format(s=service, n=int(numbers[i])),
                "created_at": (start + timedelta(seconds=int(seconds[i]))).isoformat(),
                "author": f"user{int(numbers[i]) * 7 % 1000}",
                "service": service,
                "like_count": int(numbers[i]) % 40,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def time_imports(url: str, path: Path, reject_dir: Path) -> tuple[float, float, int]:
    """Seconds of a first import and of a re-import of `path` into the store at `url`, and posts stored."""
    engine = store.connect(url)
    cols = ColumnMap(source="bench")
    try:
        start = time.perf_counter()
        first = import_file(engine, path, cols, reject_dir=reject_dir)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = import_file(engine, path, cols, reject_dir=reject_dir)
        again_s = time.perf_counter() - start
    finally:
        engine.dispose()
    assert again.imported == 0 and first.rejected == 0, "the benchmark data should import cleanly once"
    return first_s, again_s, first.imported


def report(name: str, posts: int, first_s: float, again_s: float, goal: str = "") -> None:
    print(f"{name:<11} import {first_s:6.2f} s = {posts / first_s:8,.0f} posts/s {goal}  "
          f"re-import (all duplicates) {again_s:6.2f} s = {posts / again_s:8,.0f} posts/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS)
    args = parser.parse_args()
    print(f"machine          {platform.platform()}, Python {platform.python_version()}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus             {os.cpu_count()}, load average {load}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "posts.jsonl.gz"
        write_posts(source, args.posts)
        print(f"input            {args.posts:,} posts, {source.stat().st_size / 1e6:.1f} MB JSONL.gz")
        first_s, again_s, stored = time_imports(f"sqlite:///{folder / 'bench.db'}", source, folder)
        report("SQLite", stored, first_s, again_s)
        admin_url = os.environ.get(PG_ENV)
        if not admin_url:
            print(f'PostgreSQL       skipped: set {PG_ENV} (e.g. eval "$(.ci/pg.sh start)")')
            return
        with store.throwaway_database(admin_url, prefix="bench") as url:
            first_s, again_s, stored = time_imports(url, source, folder)
        report("PostgreSQL", stored, first_s, again_s, f"(goal >= {PG_GOAL:,})")


if __name__ == "__main__":
    main()
