"""Writers and readers at once, on each backend: a writer (file import + classification rows) and a reader
(dashboard queries), where the reader never fails or sees a half-written batch; two importers of the same
posts. Nothing is lost or duplicated."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from miner import store
from miner.dashboard import queries
from miner.dashboard.queries import Filters, Scope
from miner.ingest import IMPORT_BATCH, import_file
from miner.labels import TYPES
from miner.sources.records import ColumnMap

ROWS = IMPORT_BATCH * 4
START = datetime(2024, 7, 19, tzinfo=UTC)


def _write_input(path: Path) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in range(ROWS):
            at = (START + timedelta(seconds=i * 7)).isoformat()
            text = f"plus d'internet {i}"
            f.write(f'{{"id": "{i}", "text": "{text}", "created_at": "{at}", "author": "u{i % 97}"}}\n')
        for i in range(0, ROWS, 10):  # re-sent posts inside the same file: must not be stored twice
            f.write(f'{{"id": "{i}", "text": "plus d\'internet {i}", "created_at": "{START.isoformat()}"}}\n')


def _predict_all(engine) -> None:
    """Predictions for every stored post (what `miner classify --db` writes), in one transaction."""
    output = {
        "lang": "fr",
        "is_outage": True,
        "outage_prob": 0.9,
        **{f"p_{t}": 0.0 for t in TYPES},
        **{f"t_{t}": t == "connectivity" for t in TYPES},
    }
    with engine.begin() as conn:
        stored = conn.execute(select(store.posts)).all()
        rows = [store.prediction_row(post, output, "m", datetime.now(UTC)) for post in stored]
        conn.execute(store.predictions.insert(), rows)


def _read_until(engine, done: threading.Event, seen: list[int], errors: list[BaseException]) -> None:
    scope = Scope("m", Filters("free"), pd.Timestamp(START), pd.Timestamp(START + timedelta(days=3)))
    while not done.is_set():
        try:
            with engine.connect() as conn:
                seen.append(conn.execute(select(func.count()).select_from(store.posts)).scalar())
                queries.services(conn)
                queries.post_time(conn, "free")
                queries.report_counts(conn, scope, pd.Timedelta("1h"))
                queries.type_counts(conn, scope)
        except BaseException as exc:  # any failure of the reader is the finding
            errors.append(exc)
            return


def test_import_while_the_dashboard_reads(engine, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl.gz"
    _write_input(path)
    done, seen, errors = threading.Event(), [], []
    reader = threading.Thread(target=_read_until, args=(engine, done, seen, errors))
    reader.start()
    try:
        summary = import_file(engine, path, ColumnMap(source="file", service="free"))
        _predict_all(engine)
    finally:
        done.set()
        reader.join(timeout=60)
    assert errors == []
    assert summary.imported == ROWS and summary.duplicates == ROWS // 10
    assert len(seen) >= 2 and seen == sorted(seen)  # counts only grow
    assert all(n % IMPORT_BATCH == 0 for n in seen)  # each batch is one transaction: never half of one
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(store.posts)).scalar()
        distinct = conn.execute(select(func.count(func.distinct(store.posts.c.id)))).scalar()
        scope = Scope("m", Filters("free"), pd.Timestamp(START), pd.Timestamp(START + timedelta(days=3)))
        assert queries.type_counts(conn, scope)["connectivity"] == ROWS
    assert total == distinct == ROWS


def _write_range(path: Path, ids: range) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in ids:
            at = (START + timedelta(seconds=i)).isoformat()
            f.write(f'{{"id": "{i}", "text": "plus d\'internet {i}", "created_at": "{at}"}}\n')


def test_two_importers_at_once_lose_and_duplicate_nothing(engine, tmp_path: Path) -> None:
    """Two imports of overlapping files run together, the second in the opposite key order (the order
    in which two writers could wait for each other): every post is stored once, and the two summaries'
    counts add up to what was stored."""
    ids = (range(0, ROWS), range(ROWS + ROWS // 2 - 1, ROWS // 2 - 1, -1))
    paths = [tmp_path / f"part{n}.jsonl.gz" for n in range(2)]
    for path, part in zip(paths, ids, strict=True):
        _write_range(path, part)
    summaries: dict[int, object] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            summaries[n] = import_file(engine, paths[n], ColumnMap(source="file", service="free"))
        except BaseException as exc:  # a deadlock or a lost row is the finding
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    distinct = ROWS + ROWS // 2
    assert sum(s.imported for s in summaries.values()) == distinct
    assert sum(s.duplicates for s in summaries.values()) == 2 * ROWS - distinct
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == distinct
        assert conn.execute(select(func.count(func.distinct(store.posts.c.id)))).scalar() == distinct
