"""Memory of `miner import` and `miner detect --db` on a 2 GB input: max RSS, next to the same on an input
eight times smaller. Flat memory means the two figures are the same.

    taskset -c 1 .venv/bin/python bench/memory.py [--gb 2] [--folder /tmp]

For each size, writes a JSONL file of synthetic posts (French and English, six services, 60 days, 400,000
authors) under --folder, imports it into a fresh SQLite store in a child process (`miner.ingest.import_file`,
as `miner import`), gives every post a prediction in one SQL statement (classification is not measured
here: `bench/classify.py` does it), then detects incidents in another child process
(`miner.incidents.update_incidents`, as `miner detect --db`). With MINER_TEST_PG_URL set, the same into a
throwaway PostgreSQL database. Each child prints its max RSS (getrusage) and its RSS when a quarter, half
and all of the work is done (the peak is VmHWM: getrusage's max RSS would include the parent's). The
input files and stores are deleted afterwards. Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from dashboard import machine
from sqlalchemy import text

from miner import store
from miner.labels import TYPES

PG_ENV = "MINER_TEST_PG_URL"
SMALLER = 8  # the small input is this many times smaller than the big one
FLAT_WITHIN = 1.10  # the goal: max RSS on the big input within 10 % of the small one's
DAYS = 60  # both inputs span the same days: the big one is denser, so detection's bins are the same
SERVICES = ("free", "orange", "sfr", "bouygues", "instagram", "spotify")
AUTHORS = 400_000
BURST_SHARE = 0.005  # of the posts: an outage of the first service, so detection finds an incident
BURST_AT = (DAYS - 15) * 86_400 + 18 * 3600  # seconds after the first day's start
CHUNK = 20_000  # posts generated per numpy draw while writing the input
REPORTS = (  # outage reports name these; the prediction below reads them back from the text
    "{s} en panne depuis {n} minutes, l'appli ne s'ouvre plus",
    "plus d'internet chez {s} ce matin, la box clignote encore ({n})",
    "is {s} down? my DMs won't send, tried {n} times, panne",
    "{s} website won't load, login fails every time ({n}), panne",
)
CHATTER = (
    "merci {s}, tout marche de nouveau après {n} heures, super service client",
    "loving the new {s} playlist, {n} songs of pure joy on the way to work",
    "quelqu'un a testé la nouvelle offre {s} à {n} euros ? ça vaut le coup ?",
    "{s} support was quick today, sorted my bill in {n} minutes, thanks",
)
TYPE_WORDS = {"app": "appli", "connectivity": "internet", "dm": "DMs", "website": "website", "login": "login"}

IMPORT = """
import json, sys, time
from pathlib import Path
from miner import store
from miner.ingest import import_file
from miner.sources.records import ColumnMap
PAGE = {page}
def rss():
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE
def peak():  # VmHWM: getrusage's max RSS would count the parent's, which Linux keeps across exec
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    return int(line.split()[1]) * 1024
engine = store.connect(sys.argv[1])
marks, started = {{}}, time.perf_counter()
def progress(done, total):
    for share in (0.25, 0.5, 1.0):
        if done >= share * total and share not in marks:
            marks[share] = rss()
summary = import_file(engine, Path(sys.argv[2]), ColumnMap(source="bench"), reject_dir=Path(sys.argv[3]),
                      on_progress=progress)
print(json.dumps({{"seconds": time.perf_counter() - started, "items": summary.imported, "marks": marks,
                  "max_rss": peak()}}))
"""

DETECT = """
import json, sys, time
from pathlib import Path
import miner.incidents as incidents
PAGE = {page}
def rss():
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE
def peak():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    return int(line.split()[1]) * 1024
from miner import store
engine = store.connect(sys.argv[1])
services, marks, started = json.loads(sys.argv[2]), {{}}, time.perf_counter()
counts = incidents.service_counts
def counting(*args, **kwargs):
    for done, item in enumerate(counts(*args, **kwargs), start=1):
        for share in (0.25, 0.5, 1.0):
            if done >= share * services and share not in marks:
                marks[share] = rss()
        yield item
incidents.service_counts = counting
found = incidents.update_incidents(engine)
print(json.dumps({{"seconds": time.perf_counter() - started, "items": sum(map(len, found.values())),
                  "marks": marks, "max_rss": peak()}}))
"""


def write_input(path: Path, target_bytes: int, seed: int = 7) -> int:
    """Synthetic posts as JSONL until the file holds `target_bytes`; returns how many."""
    rng = np.random.default_rng(seed)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    written = posts = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < target_bytes:
            seconds = rng.integers(0, DAYS * 86_400, CHUNK)
            service, author, number = (rng.integers(0, k, CHUNK) for k in (len(SERVICES), AUTHORS, 500))
            report = rng.random(CHUNK) < 0.25
            burst = rng.random(CHUNK) < BURST_SHARE  # the first service's outage: reports, in two hours
            seconds[burst] = BURST_AT + rng.triangular(0, 1800, 7200, burst.sum()).astype(np.int64)
            service[burst], report[burst] = 0, True
            template = rng.integers(0, 4, CHUNK)
            lines = []
            for i in range(CHUNK):
                name = SERVICES[service[i]]
                body = (REPORTS if report[i] else CHATTER)[template[i]].format(s=name, n=int(number[i]))
                record = {
                    "id": f"m{posts + i}",
                    "text": body,
                    "created_at": (start + timedelta(seconds=int(seconds[i]))).isoformat(),
                    "author": f"user{author[i]}",
                    "service": name,
                    "lang": "fr" if template[i] < 2 else "en",
                    "url": f"https://example.org/{name}/status/{posts + i}",
                    "like_count": int(number[i]) % 40,
                    "retweet_count": int(number[i]) % 7,
                    "source_app": "bench",
                }
                lines.append(json.dumps(record, ensure_ascii=False))
            block = "\n".join(lines) + "\n"
            handle.write(block)
            written += len(block.encode())
            posts += CHUNK
    return posts


def predict_all(url: str) -> None:
    """A prediction per stored post, in one INSERT ... SELECT: outage when the text says "panne", types
    from words of the text (what a model would say of these templates)."""
    outage = "(p.text LIKE '%panne%' OR p.text LIKE '%internet%')"
    flags = [
        f"({outage} AND p.text LIKE '%{TYPE_WORDS[t]}%')" if t in TYPE_WORDS else "(1 = 0)" for t in TYPES
    ]
    columns = ", ".join(c.name for c in store.predictions.columns)
    values = ", ".join(
        [
            "p.source, p.id, 'bench', p.service, p.created_at, p.lang",
            outage,
            "0.9",
            *(["0.5"] * len(TYPES)),
            *flags,
            "p.created_at",
        ]
    )
    engine = store.connect(url)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO predictions ({columns}) SELECT {values} FROM posts p"))
    engine.dispose()


def child(program: str, *args: str) -> dict:
    """Run one measured step in a fresh interpreter (its max RSS is its own)."""
    code = program.format(page=os.sysconf("SC_PAGE_SIZE"))
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@contextmanager
def stores(folder: Path) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of a fresh SQLite store, and of a throwaway PostgreSQL database when configured."""
    lite = [("SQLite", f"sqlite:///{folder / 'memory.db'}")]
    admin = os.environ.get(PG_ENV)
    if not admin:
        print(f'PostgreSQL: skipped, set {PG_ENV} (eval "$(.ci/pg.sh start)")')
        yield lite
        return
    with store.throwaway_database(admin, prefix="memory") as pg:
        yield [*lite, ("PostgreSQL", pg)]


def run(size: int, folder: Path) -> list[tuple[str, dict]]:
    """Import and detect figures for an input of `size` bytes, per backend."""
    path = folder / "posts.jsonl"
    posts = write_input(path, size)
    print(f"input: {path.stat().st_size / 1e9:.2f} GB, {posts:,} posts")
    figures = []
    try:
        with stores(folder) as backends:
            for name, url in backends:
                figures.append((f"import {name}", child(IMPORT, url, str(path), str(folder))))
                started = time.perf_counter()
                predict_all(url)
                print(f"  {name}: predictions written in {time.perf_counter() - started:.0f} s")
                figures.append((f"detect {name}", child(DETECT, url, json.dumps(len(SERVICES)))))
    finally:
        path.unlink(missing_ok=True)
        (folder / "memory.db").unlink(missing_ok=True)
    return figures


def report(size: int, figures: list[tuple[str, dict]]) -> None:
    for step, f in figures:
        marks = " / ".join(
            f"{f['marks'][str(k)] / 2**20:.0f}" for k in (0.25, 0.5, 1.0) if str(k) in f["marks"]
        )
        print(
            f"  {step:<18} {size / 1e9:5.2f} GB  max RSS {f['max_rss'] / 2**20:6.0f} MiB  "
            f"(RSS at 1/4, 1/2, all: {marks} MiB)  {f['items']:>10,} in {f['seconds']:6.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of the big input, in GB")
    parser.add_argument("--folder", type=Path, default=Path("/tmp"), help="where the inputs and stores go")
    args = parser.parse_args()
    print(machine())
    big = int(args.gb * 1e9)
    results = {}
    with tempfile.TemporaryDirectory(dir=args.folder, prefix="miner-memory-") as tmp:
        for size in (big // SMALLER, big):
            results[size] = run(size, Path(tmp))
    print("max RSS (items: posts imported, incidents found)")
    for size, figures in results.items():
        report(size, figures)
    small, large = results[big // SMALLER], results[big]
    for (step, f_small), (_, f_large) in zip(small, large, strict=True):
        ratio = f_large["max_rss"] / f_small["max_rss"]
        verdict = "flat" if ratio <= FLAT_WITHIN else "GROWS"
        goal = f"goal <= {FLAT_WITHIN:.2f}x"
        print(f"  {step:<18} {SMALLER}x the input: {ratio:.2f}x the max RSS ({goal}): {verdict}")


if __name__ == "__main__":
    main()
