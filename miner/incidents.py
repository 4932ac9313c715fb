"""From stored predictions to stored incidents: the I/O edge around the pure `miner.detect`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, Table, and_, func, select
from sqlalchemy.engine import Connection

from miner import store
from miner.detect import TOTAL, DetectConfig, Incident, ReportCounter, detect
from miner.errors import BadInput
from miner.labels import TYPES
from miner.services import Catalog

TYPE_COLUMNS = [store.predictions.c[f"t_{t}"] for t in TYPES]
# Reports read from the store per round trip while counting: enough to amortise the queries, few enough
# that memory stays flat (a few MB) whatever the store holds.
STREAM_ROWS = 10_000


def latest_model_version(conn: Connection) -> str | None:
    """The model version of the most recent prediction: the one incidents and the dashboard use."""
    query = (
        select(store.predictions.c.model_version).order_by(store.predictions.c.classified_at.desc()).limit(1)
    )
    return conn.execute(query).scalar()


def _as_utc(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series)
    return stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")


def _reports_query(version: str, service: str | None, since: datetime | None) -> Select:
    """The outage reports of a model version: their time, author, service and type flags."""
    p, r = store.posts, store.predictions
    join = r.join(p, and_(p.c.source == r.c.source, p.c.id == r.c.post_id))
    query = select(r.c.created_at, p.c.author, r.c.service, *TYPE_COLUMNS).select_from(join)
    return query.where(r.c.model_version == version, r.c.is_outage, *_in_scope(r, service, since))


def _spans(conn: Connection, service: str | None, since: datetime | None) -> list[Any]:
    """(service, first post time, last post time) of each service with posts."""
    p = store.posts
    spans = select(p.c.service, func.min(p.c.created_at), func.max(p.c.created_at))
    return list(conn.execute(spans.where(*_in_scope(p, service, since)).group_by(p.c.service)))


def _in_scope(table: Table, service: str | None, since: datetime | None) -> list[Any]:
    """Rows of posts, or of predictions (which carry their post's service and time)."""
    where = [table.c.service != ""]
    if service:
        where.append(table.c.service == service)
    if since is not None:
        where.append(table.c.created_at >= since)
    return where


def load_reports(conn: Connection, version: str, service: str | None, since: datetime | None) -> pd.DataFrame:
    """Outage reports (is_outage) with their types, plus the span of all posts per service, in memory (the
    input of `count_reports`; detection itself streams them, see `service_counts`).

    `count_reports` draws its bins from the first to the last post of any kind; rather than loading
    every non-report post, each service contributes two non-report "span" rows at its first and last
    post time.
    """
    reports = pd.DataFrame(conn.execute(_reports_query(version, service, since)).all())
    edges = [
        {"created_at": t, "author": "", "service": s, "is_outage": False, "types": []}
        for s, first, last in _spans(conn, service, since)
        for t in (first, last)
    ]
    if not reports.empty:
        flags = reports[[f"t_{t}" for t in TYPES]].to_numpy(bool)
        reports = reports[["created_at", "author", "service"]].assign(
            is_outage=True, types=[[t for t, on in zip(TYPES, row, strict=True) if on] for row in flags]
        )
    frame = pd.concat([reports, pd.DataFrame(edges)], ignore_index=True)
    if frame.empty:
        return frame
    return frame.assign(created_at=_as_utc(frame["created_at"]))


def service_counts(
    conn: Connection,
    version: str,
    service: str | None,
    since: datetime | None,
    config: DetectConfig,
    excluded_authors: Iterable[str] = (),
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each service's report counts, in total and per type (`ReportCounter.counts`), on the bins from the
    first to the last post of the services read: what `count_reports` gives on `load_reports`, but the
    reports are streamed from the store in time order, STREAM_ROWS at a time, so memory stays flat
    however many the store holds."""
    spans = _spans(conn, service, since)
    if not spans:
        return
    times = pd.to_datetime([t for _, first, last in spans for t in (first, last)], utc=True)
    grid = pd.date_range(times.min().floor(config.freq), times.max().floor(config.freq), freq=config.freq)
    for name in sorted(s for s, _, _ in spans):
        counter = ReportCounter(grid, config, excluded_authors)
        query = _reports_query(version, name, since).order_by(store.predictions.c.created_at)
        for chunk in conn.execute(query.execution_options(yield_per=STREAM_ROWS)).partitions():
            stamps, authors, _, *flags = zip(*chunk, strict=True)
            counter.add(pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)), authors, np.array(flags, bool).T)
        yield name, counter.counts()


def service_configs(
    catalog: Catalog, config: DetectConfig, sensitivity: float | None = None
) -> dict[str, DetectConfig]:
    """Each configured service's detector settings: `config` with the sensitivity given on the command
    line (`sensitivity`, for every service), else the service's own from the services file."""
    return {
        s.name: replace(config, false_alarms_per_week=rate)
        for s in catalog.services
        if (rate := sensitivity or s.sensitivity) is not None
    }


def save_incidents(
    conn: Connection, service: str, incidents: list[Incident], version: str, since: datetime | None
) -> None:
    """Replace the service's incidents from `since` on (all when None): re-runs never duplicate."""
    table = store.incidents
    stale = table.c.service == service
    if since is not None:
        stale = and_(stale, table.c.start >= since)
    conn.execute(table.delete().where(stale))
    now = datetime.now(UTC)
    rows = [
        {
            "service": service,
            **{k: getattr(i, k).to_pydatetime() for k in ("start", "detected_at", "peak", "end")},
            "peak_count": float(i.peak_count),
            "expected_at_peak": float(i.expected_at_peak),
            "level": i.level,
            "escalated_at": None if i.escalated_at is None else i.escalated_at.to_pydatetime(),
            "type_shares": {k: float(v) for k, v in i.type_shares.items()},
            "series": list(i.series),
            "sensitivity": i.sensitivity,
            "model_version": version,
            "updated_at": now,
        }
        for i in incidents
    ]
    if rows:
        conn.execute(table.insert(), rows)


def update_incidents(
    engine: Engine,
    *,
    service: str | None = None,
    since: datetime | None = None,
    config: DetectConfig | None = None,
    excluded_authors: Iterable[str] = (),
    per_service: Mapping[str, DetectConfig] | None = None,
) -> dict[str, list[Incident]]:
    """Detect incidents on stored predictions and store them; returns the stored ones per service.

    With `since`, the detector still reads `history_days` before it, so its baseline is learnt, but
    only incidents starting from `since` on are replaced and returned. `per_service` (see
    `service_configs`) gives services their own sensitivity.
    """
    config = config or DetectConfig()
    with engine.begin() as conn:
        version = latest_model_version(conn)
        if version is None:
            raise BadInput("no predictions in the store: run `miner classify --db` first")
        history = None if since is None else since - pd.Timedelta(days=config.history_days)
        found = {}
        for name, counts in service_counts(conn, version, service, history, config, excluded_authors):
            settings = (per_service or {}).get(name, config)
            found[name] = detect(counts[TOTAL], settings, type_counts=counts[list(TYPES)])
        if since is not None:
            found = {name: [i for i in found[name] if i.start >= pd.Timestamp(since)] for name in found}
        for name, incidents in found.items():
            save_incidents(conn, name, incidents, version, since)
    return found


def with_freq(config: DetectConfig, freq: str | None) -> DetectConfig:
    """The config with another bin width, validated."""
    if not freq:
        return config
    try:
        pd.Timedelta(freq)
    except ValueError:
        raise BadInput(f"--freq must be a duration such as 5min or 1h, got {freq!r}") from None
    return replace(config, freq=freq)
