"""From stored predictions to stored incidents: the I/O edge around the pure `miner.detect`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table, and_, func, select
from sqlalchemy.engine import Connection

from miner import store
from miner.detect import DetectConfig, Incident, count_reports, detect
from miner.errors import BadInput
from miner.labels import TYPES
from miner.services import Catalog

TYPE_COLUMNS = [store.predictions.c[f"t_{t}"] for t in TYPES]


def latest_model_version(conn: Connection) -> str | None:
    """The model version of the most recent prediction: the one incidents and the dashboard use."""
    query = (
        select(store.predictions.c.model_version).order_by(store.predictions.c.classified_at.desc()).limit(1)
    )
    return conn.execute(query).scalar()


def _as_utc(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series)
    return stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")


def load_reports(conn: Connection, version: str, service: str | None, since: datetime | None) -> pd.DataFrame:
    """Outage reports (is_outage) with their types, plus the span of all posts per service.

    `count_reports` draws its bins from the first to the last post of any kind; rather than loading
    every non-report post, each service contributes two non-report "span" rows at its first and last
    post time.
    """
    p, r = store.posts, store.predictions
    join = r.join(p, and_(p.c.source == r.c.source, p.c.id == r.c.post_id))
    rows = select(r.c.created_at, p.c.author, r.c.service, *TYPE_COLUMNS).select_from(join)
    rows = rows.where(r.c.model_version == version, r.c.is_outage, *_in_scope(r, service, since))
    reports = pd.DataFrame(conn.execute(rows).all())
    spans = select(p.c.service, func.min(p.c.created_at), func.max(p.c.created_at))
    spans = spans.where(*_in_scope(p, service, since))
    edges = [
        {"created_at": t, "author": "", "service": s, "is_outage": False, "types": []}
        for s, first, last in conn.execute(spans.group_by(p.c.service))
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


def _in_scope(table: Table, service: str | None, since: datetime | None) -> list[Any]:
    """Rows of posts, or of predictions (which carry their post's service and time), for `load_reports`."""
    where = [table.c.service != ""]
    if service:
        where.append(table.c.service == service)
    if since is not None:
        where.append(table.c.created_at >= since)
    return where


def detect_services(
    reports: pd.DataFrame,
    config: DetectConfig,
    excluded: Iterable[str] = (),
    per_service: Mapping[str, DetectConfig] | None = None,
) -> dict[str, list[Incident]]:
    """Run the detector on each service's report counts, in total and per type (pure). `per_service`
    holds the settings of services that have their own (their sensitivity), `config` the others'."""
    if reports.empty:
        return {}
    counts = count_reports(reports, config.freq, excluded_authors=excluded, config=config)
    found = {}
    for service, frame in counts.groupby(level="service"):
        series = frame.droplevel("service")
        types = series[[t for t in TYPES if t in series.columns]]
        settings = (per_service or {}).get(str(service), config)
        found[str(service)] = detect(series["reports"], settings, type_counts=types)
    return found


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
        reports = load_reports(conn, version, service, history)
        found = detect_services(reports, config, excluded_authors, per_service)
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
