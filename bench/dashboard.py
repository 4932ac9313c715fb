"""How fast the dashboard renders on a big store: 1,000,000 classified posts over 60 days.

    python bench/dashboard.py [folder]      # SQLite, default /tmp; builds folder/dashboard-bench.db once
    python bench/dashboard.py --pg [--keep] # PostgreSQL: database dashboard_bench on $MINER_TEST_PG_URL's
                                            # server, created and dropped afterwards (kept with --keep)
    python bench/dashboard.py --url URL     # any SQLAlchemy URL of an empty (or already built) store

Builds the store (synthetic French/English posts for several services, a daily rhythm and a few outage
spikes, predictions for each post, incidents from `miner.incidents`), then prints the machine, the time of
each dashboard query, and the first render of `app.py` through Streamlit's AppTest in a fresh process
(imports included, nothing cached), then the render with imports done but caches cleared. The same code
builds and measures every backend: only the bulk load differs (executemany on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, create_engine, func, inspect, make_url, select, text
from sqlalchemy.dialects import sqlite

from miner import store
from miner.dashboard import queries as q
from miner.dashboard.timeline import Span, window_span, with_band
from miner.incidents import update_incidents
from miner.labels import TYPES

ROOT = Path(__file__).resolve().parents[1]
N_POSTS = 1_000_000
DAYS = 60
START = pd.Timestamp("2024-05-01", tz="UTC")
MODEL = "bench-1"
SERVICES = {"free": 0.3, "orange": 0.25, "sfr": 0.15, "bouygues": 0.1, "netflix": 0.1, "instagram": 0.1}
# Per service: (day, hour, duration in hours, share of the service's posts, main outage types).
SPIKES = [
    (12, 19, 2, 0.012, ("connectivity",)),
    (41, 8, 3, 0.02, ("website", "login")),
    (55, 21, 1, 0.006, ("app",)),
]
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 8, 9, 8, 8, 8, 9, 10, 11, 12, 12, 10, 7, 4], float)
PG_ENV = "MINER_TEST_PG_URL"
PG_DATABASE = "dashboard_bench"
AUTHORS = 200_000  # distinct (pseudonymised) authors: some post several times, as real ones do
RENDER_GOAL_S = 1.0  # issue 19: the first render on a million posts, on SQLite and on PostgreSQL
FIRST_RENDER = "first render, fresh process"
BATCH = 50_000  # rows per executemany: big enough to amortise Python, small enough for flat memory

OUTAGE = {
    "fr": {
        "posting": "impossible de publier sur {s} depuis {d} min",
        "dm": "mes messages privés {s} ne partent plus",
        "app": "l'appli {s} plante dès l'ouverture",
        "website": "le site {s} ne charge plus du tout",
        "login": "impossible de me connecter à mon compte {s}",
        "feed": "le fil {s} ne se rafraîchit plus",
        "connectivity": "plus d'internet avec {s} à {c} depuis {d} min",
        "other": "{s} en panne ?",
    },
    "en": {
        "posting": "can't post anything on {s} for {d} minutes",
        "dm": "{s} DMs are not sending",
        "app": "the {s} app keeps crashing on launch",
        "website": "{s} website won't load at all",
        "login": "can't log in to my {s} account",
        "feed": "my {s} feed won't refresh",
        "connectivity": "no connection with {s} in {c} for {d} min",
        "other": "is {s} down?",
    },
}
CHATTER = {
    "fr": [
        "j'adore la nouvelle offre {s}",
        "quelqu'un a testé le forfait {s} à {c} ?",
        "le service client {s} m'a bien aidé",
    ],
    "en": ["loving the new {s} plan", "anyone tried {s} in {c}?", "{s} support was quick today"],
}
CITIES = ["Paris", "Lyon", "Marseille", "Lille", "Nantes", "London", "Montréal", "Bordeaux"]
TAILS = ["", " !", " ??", " #panne", " encore...", " 😡", " grr", " help", " (again)"]


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Epoch seconds of background posts: uniform over the days, weighted by the hour of day."""
    days = rng.integers(0, DAYS, n)
    hours = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = days * 86_400 + hours * 3600 + rng.integers(0, 3600, n)
    return int(START.timestamp()) + seconds


def _spike_times(rng: np.random.Generator, n: int, day: int, hour: int, hours: int) -> np.ndarray:
    """Epoch seconds of one spike: a triangular burst that ramps up fast and decays."""
    offset = rng.triangular(0, 0.2 * hours * 3600, hours * 3600, n).astype(np.int64)
    return int(START.timestamp()) + day * 86_400 + hour * 3600 + offset


def _service_rows(rng: np.random.Generator, service: str, n: int) -> pd.DataFrame:
    """One service's posts: background chatter and reports plus spikes that are mostly reports."""
    spike_sizes = [int(n * share) for *_, share, _ in SPIKES]
    parts = [
        pd.DataFrame(
            {
                "t": _times(rng, n - sum(spike_sizes)),
                "outage": rng.random(n - sum(spike_sizes)) < 0.25,
                "focus": "",
            }
        )
    ]
    for (day, hour, hours, _, types), size in zip(SPIKES, spike_sizes, strict=True):
        focus = rng.choice(list(types), size)
        parts.append(
            pd.DataFrame(
                {
                    "t": _spike_times(rng, size, day, hour, hours),
                    "outage": rng.random(size) < 0.95,
                    "focus": focus,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.assign(service=service)


def _texts(rng: np.random.Generator, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Post texts and their type flags; a tenth of spike reports are retweets, to be collapsed."""
    types = np.where(frame["focus"] != "", frame["focus"], rng.choice(TYPES, len(frame)))
    cities, tails, mins = (
        rng.choice(CITIES, len(frame)),
        rng.choice(TAILS, len(frame)),
        rng.integers(5, 90, len(frame)),
    )
    retweet = (frame["focus"].to_numpy() != "") & (rng.random(len(frame)) < 0.1)
    texts = []
    for lang, outage, kind, service, city, tail, minutes, rt in zip(
        frame["lang"], frame["outage"], types, frame["service"], cities, tails, mins, retweet, strict=True
    ):
        template = OUTAGE[lang][kind] if outage else CHATTER[lang][minutes % 3]
        text = template.format(s=service, c=city, d=minutes) + tail
        texts.append(f"RT @user{minutes}: {text}" if rt else text)
    flags = (types[:, None] == np.array(TYPES)[None, :]) & frame["outage"].to_numpy()[:, None]
    return texts, flags


def synthesise(seed: int = 7) -> pd.DataFrame:
    """All posts with their predictions' values, sorted by time (index inserts stay mostly appends)."""
    rng = np.random.default_rng(seed)
    frame = pd.concat(
        [_service_rows(rng, s, int(N_POSTS * w)) for s, w in SERVICES.items()], ignore_index=True
    )
    frame = frame.sort_values("t", ignore_index=True)
    frame["lang"] = np.where(rng.random(len(frame)) < 0.7, "fr", "en")
    texts, flags = _texts(rng, frame)
    frame["text"] = texts
    frame["prob"] = np.where(
        frame["outage"], rng.uniform(0.55, 0.995, len(frame)), rng.uniform(0.0, 0.45, len(frame))
    )
    for i, t in enumerate(TYPES):
        frame[f"p_{t}"] = np.where(
            flags[:, i], rng.uniform(0.6, 0.99, len(frame)), rng.uniform(0, 0.3, len(frame))
        )
        frame[f"t_{t}"] = flags[:, i]
    return frame


def _stamps(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds as the text SQLAlchemy stores in SQLite ('YYYY-MM-DD HH:MM:SS.ffffff', UTC); PostgreSQL
    parses the same text in the session's time zone, which `write_posts` sets to UTC."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]").astype("datetime64[us]"), unit="us")
    return np.char.replace(text, "T", " ")


def _batches(frame: pd.DataFrame) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Row tuples for `posts` and `predictions`, in the column order of the store's tables."""
    for lo in range(0, len(frame), BATCH):
        b = frame.iloc[lo : lo + BATCH]
        ids = [f"b{i}" for i in range(lo, lo + len(b))]
        created, ingested = _stamps(b["t"].to_numpy()).tolist(), _stamps(b["t"].to_numpy() + 60)
        authors = [f"anon:{i * 2654435761 % AUTHORS:016x}" for i in range(lo, lo + len(b))]
        post_rows = list(
            zip(
                ["x"] * len(b),
                ids,
                b["service"],
                b["text"],
                b["lang"],
                created,
                authors,
                [f"https://x.com/i/status/{i}" for i in ids],
                [0] * len(b),
                [0] * len(b),
                [0] * len(b),
                [None] * len(b),
                ingested,
                strict=True,
            )
        )
        # .tolist(): sqlite3 would store numpy integers as 8-byte blobs, not as integers. Booleans go as
        # 0/1, which PostgreSQL's boolean input accepts too.
        flags = [b[f"p_{t}"].tolist() for t in TYPES] + [b[f"t_{t}"].astype(int).tolist() for t in TYPES]
        pred_rows = list(
            zip(
                ["x"] * len(b),
                ids,
                [MODEL] * len(b),
                b["service"],
                created,
                b["lang"],
                b["outage"].astype(int).tolist(),
                b["prob"].tolist(),
                *flags,
                ingested.tolist(),
                strict=True,
            )
        )
        yield post_rows, pred_rows


def _insert_many(cursor: Any, table: Table, rows: list[tuple]) -> None:
    """SQLite: the store's own INSERT statement for a table, positional placeholders, one executemany."""
    cursor.executemany(str(table.insert().compile(dialect=sqlite.dialect(paramstyle="qmark"))), rows)


def _copy(cursor: Any, table: Table, rows: list[tuple]) -> None:
    """PostgreSQL: COPY FROM STDIN through psycopg, the fastest way in (no per-row statement)."""
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def write_posts(engine: Engine, frame: pd.DataFrame) -> None:
    """Bulk load posts and predictions through the raw DBAPI connection, in one transaction:
    SQLAlchemy's per-row processing would dominate. Then VACUUM ANALYZE on PostgreSQL, as autovacuum
    soon does after a bulk insert (its insert threshold): statistics, and the visibility map that lets
    the dashboard's counts be index-only scans. SQLite is left without statistics, as the store leaves it."""
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET TIME ZONE 'UTC'" if postgres else "PRAGMA synchronous=OFF")
        load = _copy if postgres else _insert_many
        for post_rows, pred_rows in _batches(frame):
            load(cursor, store.posts, post_rows)
            load(cursor, store.predictions, pred_rows)
        raw.commit()
        if postgres:
            raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
            cursor.execute("VACUUM ANALYZE")
        cursor.close()
    finally:
        raw.close()


def write_incidents(engine: Engine) -> int:
    """Detect and store incidents the way `miner detect --db` does (`miner.incidents`)."""
    return sum(len(found) for found in update_incidents(engine).values())


def stored_posts(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.posts)).scalar() or 0


def is_current(engine: Engine) -> bool:
    """Whether the store has every column and index `miner.store` declares: a store built before one was
    added to the schema (without a migration) measures something else, or fails."""
    found = inspect(engine)
    for table in (store.posts, store.predictions, store.incidents):
        columns = {c["name"] for c in found.get_columns(table.name)}
        indexes = {i["name"] for i in found.get_indexes(table.name)}
        if not ({c.name for c in table.columns} <= columns and {i.name for i in table.indexes} <= indexes):
            return False
    return True


def is_built(url: str) -> bool:
    """Whether the store at `url` holds the whole benchmark, in the current schema."""
    engine = store.connect(url)
    try:
        return stored_posts(engine) == N_POSTS and is_current(engine)
    finally:
        engine.dispose()


def build(url: str) -> None:
    """Fill the empty store at `url` (schema from `miner.store`), unless it already holds the benchmark."""
    if is_built(url):
        return
    engine = store.connect(url)
    try:
        if stored := stored_posts(engine):
            raise SystemExit(
                f"{_shown(url)} holds {stored:,} posts, not the benchmark in the current schema: "
                "use an empty store (with --pg, drop the kept database)"
            )
        started = time.perf_counter()
        frame = synthesise()
        write_posts(engine, frame)
        found = write_incidents(engine)
        seconds = time.perf_counter() - started
        print(f"built {_shown(url)}: {len(frame):,} posts, {found} incidents in {seconds:.1f} s")
    finally:
        engine.dispose()


def _timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best of a few runs, in milliseconds (the first run also warms SQLite's page cache)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def query_times(url: str) -> dict[str, float]:
    """Milliseconds of each dashboard query for the default view (last 24 h of the newest service)."""
    with store.connect(url, migrate_schema=False).connect() as conn:
        service, version = q.latest_service(conn), q.latest_model_version(conn)
        first, latest = q.post_time(conn, service, first=True), q.post_time(conn, service)
        day, month = window_span("24 h", first, latest), window_span("30 d", first, latest)
        scope = q.Scope(version, q.Filters(service), day.start, day.end)

        def band(span: Span) -> pd.DataFrame:
            history = q.Scope(version, q.Filters(service), span.history_start, span.end)
            return with_band(q.report_counts(conn, history, span.step), span, first)

        return {
            "model_version": _timed(lambda: q.latest_model_version(conn)),
            "services": _timed(lambda: q.services(conn)),
            "latest_service": _timed(lambda: q.latest_service(conn)),
            "post_time (first + newest)": _timed(lambda: (q.post_time(conn, service, first=True), latest)),
            "last_ingest": _timed(lambda: q.last_ingest(conn)),
            "report_counts 24 h + 28 d history, 5 min bins": _timed(
                lambda: q.report_counts(conn, replace(scope, start=day.history_start), day.step)
            ),
            "  + detector baseline (band of the 24 h chart)": _timed(lambda: band(day)),
            "band of the 30 d chart (58 d of counts, 1 h bins)": _timed(lambda: band(month)),
            "type_counts 24 h": _timed(lambda: q.type_counts(conn, scope)),
            "quote_candidates 24 h": _timed(lambda: q.quote_candidates(conn, scope)),
            "service_incidents": _timed(lambda: q.service_incidents(conn, service, version)),
        }


# Run in a fresh interpreter that imports nothing else first, so the first render pays for what the first
# visitor of a new server pays: importing pandas, SQLAlchemy and SciPy (via miner.detect), and
# empty caches. Streamlit's own start-up (an empty script) is timed apart: a server does it before anyone
# connects. That includes discovering installed components, which a server's Runtime does once when it
# starts but each new AppTest does again in its first run (0.1-0.15 s here): the apps below reuse the
# start-up's (`_bidi_component_manager`, a private attribute of AppTest in streamlit 1.67).
RENDER = """
import json, os, sys, time
started = time.perf_counter()
import streamlit as st
from streamlit.testing.v1 import AppTest
timings = {"import streamlit (before the first render)": time.perf_counter() - started}
started = time.perf_counter()
server = AppTest.from_string("pass")
server.run()  # what a server does once at start-up (runtime, component discovery)
timings["start Streamlit's runtime: empty script (before)"] = time.perf_counter() - started
os.environ["MINER_DB_URL"] = sys.argv[1]
for label in ("first render, fresh process", "first render, libraries loaded, caches empty", "rerun"):
    if label != "rerun":
        st.cache_data.clear()
        st.cache_resource.clear()
        app = AppTest.from_file(sys.argv[2], default_timeout=60)
        app._bidi_component_manager = server._bidi_component_manager
    started = time.perf_counter()
    app.run()
    timings[label] = time.perf_counter() - started
    assert not app.exception, app.exception[0].message
print(json.dumps(timings))
"""


@contextmanager
def pg_database(admin_url: str, keep: bool) -> Iterator[str]:
    """URL of database PG_DATABASE on the server of `admin_url`, created if missing (an AUTOCOMMIT
    connection: CREATE DATABASE cannot run in a transaction), dropped afterwards unless `keep`."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": PG_DATABASE})
            if exists.first() is None:
                conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        yield make_url(admin_url).set(database=PG_DATABASE).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        admin.dispose()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def describe_store(url: str) -> str:
    """The database server's version and the store's size on disk."""
    engine = store.connect(url, migrate_schema=False)
    try:
        with engine.connect() as conn:
            version = ".".join(map(str, engine.dialect.server_version_info or ()))
            query = {
                "postgresql": "SELECT pg_database_size(current_database())",
                "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            }.get(engine.dialect.name)
            size = conn.execute(text(query)).scalar() if query else float("nan")
    finally:
        engine.dispose()
    return f"{_shown(url)} ({engine.dialect.name} {version}, {size / 2**20:,.0f} MiB, {N_POSTS:,} posts)"


def machine() -> str:
    """Where the figures were measured; the load average matters on a shared machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, {platform.platform()}, Python "
        f"{platform.python_version()}; load average {load}"
    )


def _print_render(url: str, runs: int) -> None:
    """Render timings of app.py through AppTest, measured by RENDER in `runs` fresh interpreters: the
    median, and the range when there are several (wall times move with the machine's load)."""
    command = [sys.executable, "-c", RENDER, url, str(ROOT / "app.py")]
    found: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
        for name, seconds in json.loads(out.stdout.strip().splitlines()[-1]).items():
            found.setdefault(name, []).append(seconds)
    for name, seconds in found.items():
        spread = f"({min(seconds):.2f}-{max(seconds):.2f})" if runs > 1 else ""
        goal = f"goal <= {RENDER_GOAL_S} s" if name == FIRST_RENDER else ""
        print(f"  {name:<52} {statistics.median(seconds):8.2f} s {spread:<12} {goal}")


def measure(url: str, runs: int) -> None:
    """Build the store at `url` if needed, then print the machine, per-query and render timings."""
    build(url)
    print(f"{machine()}\nstore: {describe_store(url)}")
    print("queries (best of 3):")
    for name, ms in query_times(url).items():
        print(f"  {name:<52} {ms:8.1f} ms")
    print(f"render (streamlit.testing AppTest, median of {runs} fresh processes):")
    _print_render(url, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="/tmp", type=Path, help="SQLite: where the store goes")
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument("--url", help="SQLAlchemy URL of an empty or built store, instead of SQLite")
    backend.add_argument("--pg", action="store_true", help=f"PostgreSQL: database {PG_DATABASE} on ${PG_ENV}")
    parser.add_argument("--keep", action="store_true", help=f"with --pg: keep {PG_DATABASE} for the next run")
    parser.add_argument("--renders", type=int, default=5, help="fresh processes timing the render")
    args = parser.parse_args()
    if args.pg:
        admin_url = os.environ.get(PG_ENV) or parser.error(f'--pg needs {PG_ENV} (eval "$(.ci/pg.sh start)")')
        with pg_database(admin_url, args.keep) as url:
            measure(url, args.renders)
        return
    if args.url:
        measure(args.url, args.renders)
        return
    path = args.folder / "dashboard-bench.db"
    if path.exists() and not is_built(f"sqlite:///{path}"):  # the benchmark's own file: rebuilt
        path.unlink()
    measure(f"sqlite:///{path}", args.renders)


if __name__ == "__main__":
    main()
