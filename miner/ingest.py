"""Import posts from files into the store: stream, validate, insert in batches, quarantine rejects."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from miner import store
from miner.errors import BadInput
from miner.post import Post
from miner.sources.files import RawRecord, detect_format, open_binary, read_records
from miner.sources.records import ColumnMap, Rejected, to_post

# Posts per transaction: one commit per few thousand rows keeps SQLite fast and memory flat.
IMPORT_BATCH = 5_000
# A reject file stores a prefix of the offending record, enough to find and fix it.
REJECT_SNIPPET_CHARS = 2_000

ProgressFn = Callable[[int, int], None]


@dataclass(slots=True)
class ImportSummary:
    """What happened to one input file."""

    path: str
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    reject_path: str = ""


class RejectWriter:
    """Writes `<input>.rejected.jsonl` lazily: no file when every row is good."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def write(self, line: int, reason: str, record: dict[str, Any] | str) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        snippet = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False, default=str)
        entry = {"line": line, "reason": reason, "record": snippet[:REJECT_SNIPPET_CHARS]}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def reject_path_for(path: Path, reject_dir: Path | None = None) -> Path:
    """`<input>.rejected.jsonl` beside the input, or in `reject_dir` (or the current folder when
    the input's folder is read-only, as for shared datasets)."""
    name = f"{path.name}.rejected.jsonl" if path.name != "-" else "stdin.rejected.jsonl"
    if reject_dir is not None:
        return reject_dir / name
    parent = path.parent if path.name != "-" else Path.cwd()
    return parent / name if os.access(parent, os.W_OK) else Path.cwd() / name


def validated(records: Iterator[RawRecord], cols: ColumnMap, rejects: RejectWriter) -> Iterator[Post | None]:
    """Posts for good records, None (after quarantining) for bad ones, in input order."""
    for rec in records:
        if rec.error:
            rejects.write(rec.line, rec.error, rec.raw_text)
            yield None
            continue
        try:
            yield to_post(rec.fields, cols)
        except (Rejected, ValueError, OverflowError) as exc:
            rejects.write(rec.line, str(exc), rec.fields)
            yield None


def _batches(items: Iterator[Post | None], size: int) -> Iterator[list[Post | None]]:
    batch: list[Post | None] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_file(
    engine: Engine,
    path: Path,
    cols: ColumnMap,
    *,
    reject_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    stream: IO[bytes] | None = None,
) -> ImportSummary:
    """Import one file (or `stream` for '-'); good rows land even when others are rejected."""
    if stream is None:
        detect_format(path)
    raw = stream or (open_binary(path) if detect_format(path) != "parquet" else None)
    total = path.stat().st_size if stream is None else 0
    summary = ImportSummary(str(path))
    rejects = RejectWriter(reject_path_for(path, reject_dir))
    try:
        posts = validated(read_records(path, raw), cols, rejects)
        for batch in _batches(posts, IMPORT_BATCH):
            good = [p for p in batch if p is not None]
            with engine.begin() as conn:
                new = store.insert_posts(conn, good)
            summary.read += len(batch)
            summary.imported += new
            summary.duplicates += len(good) - new
            summary.rejected += len(batch) - len(good)
            if on_progress is not None:
                on_progress(bytes_read(raw, total), total)
    finally:
        rejects.close()
        if raw is not None and stream is None:
            raw.close()
    summary.reject_path = str(rejects.path) if summary.rejected else ""
    return summary


def bytes_read(raw: IO[bytes] | None, total: int) -> int:
    """Bytes consumed so far of the file on disk (compressed bytes for .gz)."""
    if raw is None:
        return total
    inner = getattr(raw, "fileobj", raw)
    try:
        return inner.tell()
    except (OSError, ValueError):
        return total


def check_inputs(paths: list[Path]) -> None:
    """Fail fast, before touching the store, when an input is missing or of unknown format."""
    for path in paths:
        if str(path) == "-":
            continue
        if not path.exists():
            raise BadInput(f"{path}: no such file")
        detect_format(path)
