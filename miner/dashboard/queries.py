"""Read-only queries for the dashboard; every aggregation runs in the database (GROUP BY), never in pandas.

All functions take a SQLAlchemy `Connection`, UTC timestamps, and the model version whose predictions
count: `latest_model_version`, the one `miner.incidents` gives the detector, so charts and incidents
agree. They stay portable between SQLite and PostgreSQL: the only dialect-specific SQL is `epoch`,
compiled per dialect below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    FromClause,
    Select,
    and_,
    case,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from miner.incidents import latest_model_version as latest_model_version  # re-exported for the dashboard
from miner.labels import TYPES
from miner.store import incidents, posts, predictions

ALL = "all"
"""Filter value meaning "no restriction" for language and outage type."""
# Newest posts inspected to tell whether a collector is writing: they come through the created_at index,
# so the check stays instant on millions of posts (ingested_at has no index).
ACTIVITY_SAMPLE = 500


class epoch(FunctionElement[int]):
    """Whole seconds since 1970 of a UTC timestamp column: the basis of time bins on every dialect."""

    type = BigInteger()
    name = "epoch"
    inherit_cache = True


@compiles(epoch)
def _epoch_standard(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL (and standard SQL): EXTRACT gives fractional seconds, FLOOR keeps a post in its bin."""
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite stores UTC timestamps as text; strftime('%s') parses them and truncates to seconds."""
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the reports to; hashable so Streamlit can cache on it."""

    service: str
    lang: str = ALL
    type: str = ALL


@dataclass(frozen=True)
class Scope:
    """The outage reports a query reads: one model version's predictions, the filters, [start, end) in UTC."""

    version: str
    filters: Filters
    start: pd.Timestamp
    end: pd.Timestamp


def _utc(value: datetime | None) -> pd.Timestamp | None:
    """SQLite hands back naive datetimes; the store writes UTC, so label them as such."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _bound(stamp: pd.Timestamp) -> datetime:
    """A UTC datetime to compare with stored timestamps (SQLite compares their text form)."""
    return stamp.tz_convert(UTC).to_pydatetime()


TYPE_FLAGS = [predictions.c[f"t_{t}"] for t in TYPES]
WITH_POSTS = predictions.join(
    posts, and_(posts.c.source == predictions.c.source, posts.c.id == predictions.c.post_id)
)
"""Predictions with their posts, for what only posts hold (text, author, link, engagement)."""


def _type_sums(flags: list[Any]) -> list[ColumnElement[Any]]:
    """Per outage type, how many of the grouped reports carry it (portable: CASE, not SUM(boolean))."""
    return [func.sum(case((flag, 1), else_=0)).label(t) for t, flag in zip(TYPES, flags, strict=True)]


def _reports(columns: list[Any], scope: Scope, source: FromClause = predictions) -> Select:
    """SELECT columns FROM the outage reports in scope.

    Predictions carry their post's service, time and shown language (store version 4), so the reports in
    scope are one range of the partial index `ix_predictions_reports`; posts are joined (`WITH_POSTS`)
    only for columns they alone hold, by primary key."""
    r, f = predictions, scope.filters
    query = (
        select(*columns)
        .select_from(source)
        .where(
            r.c.model_version == scope.version,
            r.c.service == f.service,
            r.c.created_at >= _bound(scope.start),
            r.c.created_at < _bound(scope.end),
            r.c.is_outage,
        )
    )
    if f.lang != ALL:
        query = query.where(r.c.lang == f.lang)
    if f.type != ALL:
        query = query.where(r.c[f"t_{f.type}"])
    return query


def is_ready(conn: Connection) -> bool:
    """True when the store's tables exist (the dashboard never creates or migrates them)."""
    return all(inspect(conn).has_table(t.name) for t in (posts, predictions, incidents))


def services(conn: Connection) -> list[str]:
    """Services that have posts, alphabetically.

    A recursive "next service after this one" walk: one index probe per service instead of the full
    index scan SELECT DISTINCT does (70 ms on a million posts)."""
    walk = select(func.min(posts.c.service).label("service")).cte("services", recursive=True)
    after = select(func.min(posts.c.service)).where(posts.c.service > walk.c.service).scalar_subquery()
    walk = walk.union_all(select(after).where(walk.c.service.is_not(None)))
    return list(conn.execute(select(walk.c.service).where(walk.c.service.is_not(None))).scalars())


def latest_service(conn: Connection) -> str | None:
    """The service of the newest post: the sensible default to show first."""
    query = select(posts.c.service).order_by(posts.c.created_at.desc()).limit(1)
    return conn.execute(query).scalar()


def post_time(conn: Connection, service: str | None = None, *, first: bool = False) -> pd.Timestamp | None:
    """Time of the newest (or first) post, of one service or of all; one index lookup each.

    Separate queries for min and max: SQLite answers a lone MIN/MAX from the index, not both at once."""
    agg = func.min if first else func.max
    query = select(agg(posts.c.created_at))
    if service is not None:
        query = query.where(posts.c.service == service)
    return _utc(conn.execute(query).scalar())


def last_ingest(conn: Connection) -> pd.Timestamp | None:
    """When the newest posts were written: recent means a collector is running."""
    newest = select(posts.c.ingested_at).order_by(posts.c.created_at.desc()).limit(ACTIVITY_SAMPLE).subquery()
    return _utc(conn.execute(select(func.max(newest.c.ingested_at))).scalar())


def counts_query(scope: Scope, step: pd.Timedelta) -> Select:
    """SQL of `report_counts`: bins are multiples of `step` since 1970, like the detector's bins."""
    seconds = int(step.total_seconds())
    bucket = (epoch(predictions.c.created_at) // seconds * seconds).label("bin")
    inner = _reports([bucket, *TYPE_FLAGS], scope).subquery()
    sums = _type_sums([inner.c[flag.name] for flag in TYPE_FLAGS])
    return select(inner.c.bin, func.count().label("reports"), *sums).group_by(inner.c.bin)


def report_counts(conn: Connection, scope: Scope, step: pd.Timedelta) -> pd.DataFrame:
    """Outage reports per time bin, in total and per type: index = bin start (UTC), only non-empty bins."""
    frame = _frame(conn, counts_query(scope, step))
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("bin").astype("int64"), unit="s", utc=True))
    return frame.sort_index().astype("int64")


def type_counts(conn: Connection, scope: Scope) -> pd.Series:
    """How many outage reports are in scope ("reports") and how many carry each type (a report may carry
    several, of both kinds): what `miner.breakdown` turns into shares of reports."""
    row = conn.execute(_reports([func.count().label("reports"), *_type_sums(TYPE_FLAGS)], scope)).one()
    return pd.Series([int(v or 0) for v in row], index=["reports", *TYPES], dtype="int64")


RANKED_COLUMNS = [
    predictions.c.source,
    predictions.c.post_id,
    predictions.c.created_at,
    predictions.c.lang,
    predictions.c.outage_prob,
    *TYPE_FLAGS,
]


def _quote_columns(reports: Any) -> list[Any]:
    """A quote's columns, in the page's order: `reports` holds RANKED_COLUMNS, posts the others."""
    return [
        reports.c.source,
        reports.c.post_id.label("id"),
        posts.c.text,
        reports.c.created_at,
        reports.c.lang,
        posts.c.author,
        posts.c.url,
        posts.c.likes,
        posts.c.reposts,
        reports.c.outage_prob,
        *(reports.c[flag.name] for flag in TYPE_FLAGS),
    ]


def quote_candidates(conn: Connection, scope: Scope, per_lang: int = 60) -> pd.DataFrame:
    """The most probable outage reports of each language in scope: few rows, so diversity and
    near-duplicate collapsing can be done in Python on them (see `miner.dashboard.quotes`). They are ranked
    on the predictions alone; only the chosen ones are joined to their posts."""
    rank = func.row_number().over(
        partition_by=predictions.c.lang,
        order_by=(predictions.c.outage_prob.desc(), predictions.c.created_at.desc()),
    )
    ranked = _reports([*RANKED_COLUMNS, rank.label("rank")], scope).subquery()
    chosen = ranked.join(posts, and_(posts.c.source == ranked.c.source, posts.c.id == ranked.c.post_id))
    return _frame(conn, select(*_quote_columns(ranked)).select_from(chosen).where(ranked.c.rank <= per_lang))


def reports(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Every outage report in scope, oldest first (for CSV export); same-time reports by post, so every
    backend writes the same file."""
    r = predictions
    query = _reports(_quote_columns(r), scope, WITH_POSTS).order_by(r.c.created_at, r.c.source, r.c.post_id)
    return _frame(conn, query)


def service_incidents(conn: Connection, service: str, version: str) -> pd.DataFrame:
    """The detector's incidents for a service and model version, newest first, times in UTC."""
    query = (
        select(incidents)
        .where(incidents.c.service == service, incidents.c.model_version == version)
        .order_by(incidents.c.start.desc())
    )
    return _frame(conn, query)


def _frame(conn: Connection, query: Select) -> pd.DataFrame:
    """Rows as a DataFrame with UTC-aware timestamp columns, even when empty (SQLite returns naive ones).

    Rows become plain tuples first: pandas builds a frame from SQLAlchemy Row objects 5x slower."""
    rows = [tuple(row) for row in conn.execute(query)]
    frame = pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])
    for column in query.selected_columns:
        if isinstance(column.type, DateTime):
            frame[column.name] = pd.to_datetime(frame[column.name], utc=True)
    return frame
