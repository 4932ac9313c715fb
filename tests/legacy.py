"""Stores as earlier schema versions left them, to test that migrations keep what they hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Engine, Index, MetaData, Table, create_engine

from miner import store

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
