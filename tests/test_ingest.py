"""File import into a real store (SQLite and PostgreSQL): real datasets, bad rows quarantined, constant
memory, the same results on both."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from miner import store
from miner.ingest import import_file
from miner.privacy import author_key
from miner.sources.records import MAX_TEXT_CHARS, ColumnMap
from tests.conftest import database
from tests.realdata import FREE_POSTS, SPOTIFY_POSTS
from tests.sources.test_files import X_PAGE


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.posts)).scalar()


def _stored(engine, source: str, post_id: str):
    with engine.connect() as conn:
        row = conn.execute(
            select(store.posts).where(store.posts.c.source == source, store.posts.c.id == post_id)
        ).one()
    return store.row_to_post(row)


def test_free_dataset_imports_whole_and_idempotently(engine) -> None:
    path = FREE_POSTS
    first = import_file(engine, path, ColumnMap(source="x", service="free"))
    assert (first.read, first.imported, first.rejected) == (3406, 3406, 0)
    again = import_file(engine, path, ColumnMap(source="x", service="free"))
    assert (again.imported, again.duplicates) == (0, 3406)
    assert _count(engine) == 3406
    post = _stored(engine, "x", "000001")
    assert post.created_at == datetime(2020, 12, 28, 7, 26, 23, tzinfo=UTC)
    assert post.author == author_key("m_annuel") and post.url.endswith("/1343458257915031553")
    assert post.raw["is_official_free_account"] == "false" and "author" not in post.raw


def test_spotify_dataset_with_multiline_texts(engine) -> None:
    summary = import_file(engine, SPOTIFY_POSTS, ColumnMap(source="twcs", service="spotify"))
    assert summary.read == summary.imported == 14792
    post = _stored(engine, "twcs", "2926302")
    assert post.text.startswith("@SpotifyCares @112253") and post.author == author_key("809660")


def test_x_api_v2_page_shape(engine, tmp_path: Path) -> None:
    path = tmp_path / "search.json"
    path.write_text(json.dumps(X_PAGE))
    summary = import_file(engine, path, ColumnMap(source="x", service="x"))
    assert summary.imported == 2
    post = _stored(engine, "x", "1815")
    assert (post.author, post.likes, post.replies, post.lang) == (author_key("alice"), 2, 1, "en")


def test_bad_rows_are_quarantined_and_good_rows_kept(engine, tmp_path: Path) -> None:
    good = {"id": "g1", "text": "le site ne charge plus", "created_at": "2024-07-19T17:00:00+02:00"}
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(good).encode(),
        json.dumps({"id": "b1", "created_at": "2024-07-19T17:00:00Z"}).encode(),  # missing text
        json.dumps({"id": "b2", "text": "x", "created_at": "someday"}).encode(),  # unparseable date
        b'{"id": "b3", "text": "caf\xe9", "created_at": "2024-07-19T17:00:00Z"}',  # invalid UTF-8
        json.dumps(
            {"id": "b4", "text": ["not", "a", "string"], "created_at": "2024-07-19T17:00:00Z"}
        ).encode(),
        json.dumps({"id": "b5", "text": "x" * 10_000_000, "created_at": "2024-07-19T17:00:00Z"}).encode(),
        b'{"id": "b6", "text": "truncated',  # malformed JSON
        json.dumps({"id": "b7", "text": "old", "created_at": "1900-01-01T00:00:00Z"}).encode(),  # absurd date
        json.dumps(good | {"id": "g2", "created_at": "2024-07-19 15:00:00"}).encode(),  # naive = UTC
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = import_file(engine, path, ColumnMap(source="file"))
    assert (summary.read, summary.imported, summary.rejected) == (9, 2, 7)
    rejects = [json.loads(line) for line in Path(summary.reject_path).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4, 5, 6, 7, 8]
    reasons = " | ".join(r["reason"] for r in rejects)
    for expected in (
        "missing text",
        "unparseable date",
        "invalid UTF-8",
        "text must be a string",
        f"limit {MAX_TEXT_CHARS:,}",
        "malformed JSON",
        "out of range",
    ):
        assert expected in reasons
    assert all(len(r["record"]) <= 2000 for r in rejects)
    assert _stored(engine, "file", "g1").created_at == _stored(engine, "file", "g2").created_at


def _big_jsonl(path: Path, rows: int) -> None:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(rows):
            f.write(f'{{"id": {i}, "text": "panne {i} plus d\'internet", "created_at": {1700000000 + i}}}\n')


def test_200k_rows_import_in_constant_memory(tmp_path: Path) -> None:
    """Streaming is a property of the reader and batching, so one backend (SQLite) is enough here."""
    engine = store.connect(f"sqlite:///{tmp_path / 'big.db'}")
    path = tmp_path / "big.jsonl.gz"
    _big_jsonl(path, 200_000)
    progress: list[int] = []
    tracemalloc.start()
    summary = import_file(
        engine, path, ColumnMap(source="file"), on_progress=lambda done, _t: progress.append(done)
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert summary.imported == 200_000 == _count(engine)
    assert progress == sorted(progress) and len(progress) == 40
    # Holding 200k posts at once would take well over 100 MB; batches keep the peak near one batch.
    assert peak < 40 * 1024 * 1024, f"peak traced memory {peak / 1e6:.0f} MB"


@pytest.mark.parametrize("content", [b"", b"id,text\n"])
def test_empty_inputs_import_nothing(engine, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert import_file(engine, path, ColumnMap()).read == 0


def test_gzipped_csv_reports_progress_in_compressed_bytes(engine, tmp_path: Path) -> None:
    path = tmp_path / "posts.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("id,text,date\n")
        for i in range(12_000):
            f.write(f"{i},panne {i * 7919 % 10007},2024-07-19 17:{i % 60:02d}:00\n")
    seen: list[tuple[int, int]] = []
    summary = import_file(
        engine, path, ColumnMap(), on_progress=lambda done, total: seen.append((done, total))
    )
    assert summary.imported == 12_000
    assert len(seen) == 3 and seen[-1] == (path.stat().st_size, path.stat().st_size)


def _mixed_input(path: Path) -> None:
    """Rows of every kind an import meets: duplicates within the file and across batches, rejects,
    nested and non-ASCII raw fields, engagement counts, times in other zones."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(60):
            row = {
                "id": str(i % 45),  # 15 repeats, some in the same batch, some in later ones
                "text": f"la box clignote encore 😡 « {i} »",
                "created_at": f"2024-07-19T1{i % 10}:0{i % 6}:00+02:00",
                "author": f"user{i % 7}",
                "service": "free",
                "like_count": i % 4,
                "place": {"city": "Besançon", "tags": ["fibre", i]},
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            if i % 13 == 0:
                f.write('{"id": "bad", "text": ""}\n')


def _import_twice(url: str, path: Path) -> tuple[list, list]:
    """Summaries of an import and a re-import into a fresh store, then every stored post but the time of
    its import."""
    engine = store.connect(url)
    try:
        summaries = [import_file(engine, path, ColumnMap(source="x")) for _ in range(2)]
        with engine.connect() as conn:
            rows = conn.execute(select(store.posts).order_by(store.posts.c.id)).all()
    finally:
        engine.dispose()
    found = [(s.read, s.imported, s.duplicates, s.rejected) for s in summaries]
    return found, [store.row_to_post(r) for r in rows]


def test_sqlite_and_postgresql_import_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's COPY path and SQLite's INSERT path: the same counts and the same stored posts."""
    monkeypatch.setattr("miner.ingest.IMPORT_BATCH", 16)  # several batches, duplicates across them
    path = tmp_path / "mixed.jsonl"
    _mixed_input(path)
    with database("sqlite", tmp_path) as lite, database("postgresql", tmp_path) as pg:
        on_sqlite, on_postgresql = _import_twice(lite, path), _import_twice(pg, path)
    assert on_sqlite == on_postgresql
    assert on_sqlite[0] == [(65, 45, 15, 5), (65, 0, 60, 5)]
    first = {post.id: post for post in on_sqlite[1]}["3"]  # the first of a file's repeats is kept
    assert first.raw["place"] == {"city": "Besançon", "tags": ["fibre", 3]} and first.likes == 3
