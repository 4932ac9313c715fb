"""The live loop behind `miner watch`: collect, classify, update incidents, alert on start and end.

Each cycle is independent and idempotent: posts and checkpoints are stored per page, predictions per
batch, incidents replaced per service, and which alerts were sent is kept in the store (as the
`alerts` checkpoint of each service), so a restarted watcher never repeats or loses an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, select

from miner import store
from miner.alerts import Event, alert_payload
from miner.batch import classify_stored
from miner.collect.jetstream import Jetstream
from miner.collect.run import build_collectors, collect_queries
from miner.detect import DetectConfig, Incident
from miner.errors import MinerError
from miner.incidents import latest_model_version, service_configs, update_incidents
from miner.predict import Predictor
from miner.services import JETSTREAM, Catalog, build_queries

log = logging.getLogger(__name__)

# Incidents are re-detected over this trailing span each cycle (plus the detector's own history):
# long enough for any live incident, short enough that a cycle stays fast on a year of data.
RECENT = timedelta(days=2)
ALERT_STATE = "alerts"  # checkpoint source under which sent alerts are remembered

Notify = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class CycleReport:
    """What one cycle did: the line `miner watch` logs."""

    collected: dict[str, int] = field(default_factory=dict)
    classified: int = 0
    incidents: int = 0
    alerts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        sources = " ".join(f"{s}={n}" for s, n in self.collected.items()) or "none"
        errors = f"; errors: {'; '.join(self.errors)}" if self.errors else ""
        return (
            f"collected {sources}; classified {self.classified}; incidents {self.incidents}; "
            f"alerts {len(self.alerts)}{errors}"
        )


def collect_sources(
    engine: Engine, catalog: Catalog, sources: list[str], env: Mapping[str, str] | None, report: CycleReport
) -> None:
    """New posts from every usable source and service; one failing source never stops the others."""
    for source in sources:
        try:
            collectors = build_collectors(source, env)
            queries = [q for s in catalog.services for q in build_queries(catalog, s.name, source)]
            summaries = collect_queries(engine, collectors, queries)
            report.collected[source] = sum(s.new for s in summaries)
        except MinerError as exc:
            report.errors.append(f"{source}: {exc}")


def _quotes(engine: Engine, service: str, incident: Incident, version: str) -> list[str]:
    """The most confident reports during the incident, distinct texts first."""
    p, r = store.posts, store.predictions
    join = r.join(p, and_(p.c.source == r.c.source, p.c.id == r.c.post_id))
    query = (
        select(p.c.text)
        .select_from(join)
        .where(r.c.model_version == version, r.c.service == service, r.c.is_outage)
        .where(r.c.created_at >= incident.start.to_pydatetime())
        .where(r.c.created_at <= (incident.end + pd.Timedelta(DetectConfig.freq)).to_pydatetime())
        .order_by(r.c.outage_prob.desc())
        .limit(20)
    )
    with engine.connect() as conn:
        texts = [t for (t,) in conn.execute(query)]
    return list(dict.fromkeys(texts))


def _due(incident: Incident, sent: dict[str, list[str]], now: datetime, hold: timedelta) -> list[Event]:
    key = incident.start.isoformat()
    events: list[Event] = []
    if key not in sent["start"]:
        events.append("start")
    if key not in sent["end"] and incident.end.to_pydatetime() + hold < now:
        events.append("end")
    return events


def send_alerts(
    engine: Engine,
    found: dict[str, list[Incident]],
    notify: Notify,
    now: datetime,
    report: CycleReport,
    config: DetectConfig,
) -> None:
    """Alert each incident once when it starts and once when it ends; remember what was sent."""
    hold = pd.Timedelta(config.hold).to_pytimedelta()
    with engine.connect() as conn:
        version = latest_model_version(conn) or ""
    for service, incidents in found.items():
        with engine.connect() as conn:
            sent = {"start": [], "end": []} | store.load_checkpoint(conn, ALERT_STATE, service)
        for incident in incidents:
            for event in _due(incident, sent, now, hold):
                payload = alert_payload(
                    event, service, incident.to_dict(), _quotes(engine, service, incident, version)
                )
                notify(payload)
                sent[event].append(incident.start.isoformat())
                report.alerts.append(f"{service} {event}")
                with engine.begin() as conn:
                    store.save_checkpoint(conn, ALERT_STATE, service, sent)


def run_cycle(
    engine: Engine,
    predictor: Predictor,
    catalog: Catalog,
    *,
    sources: list[str],
    notify: Notify | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    config: DetectConfig | None = None,
    sensitivity: float | None = None,
    stream: Jetstream | None = None,
) -> CycleReport:
    """One watch cycle; `now` and `env` are injectable so tests replay time and point at local servers.

    Each service is watched at its sensitivity from the services file, or at `sensitivity` if given.
    A `stream` stores posts on its own (in its thread): the cycle counts what it stored since the last."""
    config = config or DetectConfig()
    now = now or datetime.now(UTC)
    report = CycleReport()
    collect_sources(engine, catalog, sources, env, report)
    if stream is not None:
        report.collected[JETSTREAM] = stream.take_new()
    report.classified = classify_stored(engine, predictor)
    excluded = {key for s in catalog.services for key in s.official_keys()}
    try:
        found = update_incidents(
            engine,
            since=now - RECENT,
            config=config,
            excluded_authors=excluded,
            per_service=service_configs(catalog, config, sensitivity),
        )
    except MinerError as exc:  # e.g. nothing classified yet on a fresh store
        report.errors.append(f"detect: {exc}")
        return report
    report.incidents = sum(len(v) for v in found.values())
    if notify is not None:
        send_alerts(engine, found, notify, now, report, config)
    return report
