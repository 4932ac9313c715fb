"""Import posts from files into the store: stream, validate, insert in batches, quarantine rejects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from miner import store
from miner.post import Post
from miner.sources.files import InputFile, ProgressFn, RawRecord, batched
from miner.sources.records import ColumnMap, Rejected, to_post
from miner.sources.rejects import RejectSink, RejectWriter, reject_path_for

# Posts per transaction: one commit per few thousand rows keeps SQLite fast and memory flat.
IMPORT_BATCH = 5_000


@dataclass(slots=True)
class ImportSummary:
    """What happened to one input file."""

    path: str
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    reject_path: str = ""


def validated(records: Iterator[RawRecord], cols: ColumnMap, rejects: RejectSink) -> Iterator[Post | None]:
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


def import_file(
    engine: Engine,
    path: Path,
    cols: ColumnMap,
    *,
    reject_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    stream: IO[bytes] | None = None,
) -> ImportSummary:
    """Import one file (or `stream` for '-'); good rows land even when others are rejected, and the rows
    before a break in the file (a cut gzip) land before BrokenInput reports it."""
    summary = ImportSummary(str(path))
    rejects = RejectWriter(reject_path_for(path, reject_dir))
    with InputFile(path, stream) as source, closing(rejects):
        for batch in batched(validated(source.records(), cols, rejects), IMPORT_BATCH):
            good = [p for p in batch if p is not None]
            with engine.begin() as conn:
                new = store.insert_posts(conn, good)
            summary.read += len(batch)
            summary.imported += new
            summary.duplicates += len(good) - new
            summary.rejected += len(batch) - len(good)
            if on_progress is not None:
                on_progress(source.bytes_read(), source.total)
    summary.reject_path = str(rejects.path) if summary.rejected else ""
    source.raise_if_broken(
        f"the {summary.read:,} rows before it were read: {summary.imported:,} imported, "
        f"{summary.duplicates:,} already stored, {summary.rejected:,} rejected",
        summary.reject_path,
    )
    return summary
