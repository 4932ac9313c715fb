"""Stores to compare: the same data on SQLite and on PostgreSQL, or written at schema version 3 (as that
version left it) and then migrated, against the same data written by today's code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Index, MetaData, Table, create_engine

from miner import store
from tests.conftest import database

V4_COLUMNS = {"service", "created_at"}
"""What version 4 added to predictions (copied from the post)."""

_v3 = MetaData()
PREDICTIONS_V3 = Table(
    "predictions",
    _v3,
    *(
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, default=c.default)
        for c in store.predictions.columns
        if c.name not in V4_COLUMNS
    ),
    Index("ix_predictions_model", "model_version", "is_outage"),
    Index("ix_predictions_classified", "classified_at"),
)
"""The predictions table of schema versions 1 to 3."""


def version_3_store(url: str) -> Engine:
    """An empty store at schema version 3 (the other tables have not changed since), not yet migrated."""
    engine = create_engine(url)
    with engine.begin() as conn:
        others = [store.schema_version, store.posts, store.incidents, store.checkpoints, store.feedback]
        store.metadata.create_all(conn, tables=others)
        PREDICTIONS_V3.create(conn)
        conn.execute(store.schema_version.insert().values(version=3))
    return engine


def as_version_3(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions rows as version 3 stored them."""
    return [{k: v for k, v in row.items() if k not in V4_COLUMNS} for row in rows]


def migrated_and_fresh(
    kind: str, folder: Path, fill: Callable[..., None], read: Callable[[Engine], Any]
) -> tuple[Any, Any]:
    """What `read` finds in a `kind` store filled at version 3 (`fill(engine, predictions=PREDICTIONS_V3)`)
    then migrated, and in one filled by today's writers (`fill(engine)`)."""
    with database(kind, folder, "old") as old_url, database(kind, folder, "fresh") as fresh_url:
        old = version_3_store(old_url)
        fill(old, predictions=PREDICTIONS_V3)
        old.dispose()
        return _read_filled(old_url, lambda _engine: None, read), _read_filled(fresh_url, fill, read)


def on_both_backends(
    folder: Path, fill: Callable[[Engine], None], read: Callable[[Engine], Any]
) -> list[Any]:
    """What `read` finds in a SQLite and in a PostgreSQL store that `fill` filled alike."""
    with database("sqlite", folder) as lite, database("postgresql", folder) as pg:
        return [_read_filled(url, fill, read) for url in (lite, pg)]


def _read_filled(url: str, fill: Callable[[Engine], None], read: Callable[[Engine], Any]) -> Any:
    engine = store.connect(url)  # migrates
    try:
        fill(engine)
        return read(engine)
    finally:
        engine.dispose()
