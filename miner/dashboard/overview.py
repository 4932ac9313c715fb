"""The overview page ("What is down now"): every watched service's last hour against its usual level.

Downdetector's home page ranks services by their reports against the usual level; so does this one. Each
service is read as its own page reads it: outage reports per 5-minute bin with the detector's expected
level (`timeline.with_band`, learnt from the previous four weeks) and the detector's state from its stored
incidents (`summary.current_status`). "Now" is the newest post of any service, so old data still reads
sensibly. `standings` does the reading; `standing` and `rank` are pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Connection

from miner.dashboard import queries
from miner.dashboard.queries import Filters, Scope
from miner.dashboard.summary import Status, current_status
from miner.dashboard.timeline import Span, window_span, with_band
from miner.labels import TYPES

LAST_HOUR = pd.Timedelta(hours=1)
DAY_WINDOW = "24 h"  # the sparkline's span, the service page's default window
TREND_STEP = pd.Timedelta(hours=1)  # the sparkline shows reports per hour: 24 bars
SEVERITY = {"outage": 2, "possible": 1, "ok": 0}


@dataclass(frozen=True)
class Standing:
    """One service on the overview."""

    service: str
    display: str
    status: Status
    reports: int  # outage reports in the last hour
    usual: float  # what the detector expected in that hour
    trend: pd.Series  # reports per hour over the last 24 hours (index: hour start, UTC)
    top_type: str | None  # the type most of the day's reports name, if any names one
    top_share: float  # ... and the share of the day's reports naming it

    @property
    def ratio(self) -> float:
        """The last hour against the usual level, one added to both so that a quiet service reads 1x and a
        service usually at zero is not infinitely above it."""
        return (self.reports + 1) / (self.usual + 1)


def hourly(reports: pd.Series, step: pd.Timedelta) -> pd.Series:
    """Counts per `step` bin summed per hour counted back from the last bin (the last hour is whole)."""
    per_hour = max(1, int(TREND_STEP / step))
    hour = (len(reports) - 1 - pd.RangeIndex(len(reports))) // per_hour
    summed = reports.groupby(hour.to_numpy()).sum().sort_index(ascending=False)
    starts = [reports.index[max(0, len(reports) - (h + 1) * per_hour)] for h in summed.index]
    return pd.Series(summed.to_numpy(), index=pd.DatetimeIndex(starts), name="reports")


def standing(service: str, display: str, band: pd.DataFrame, span: Span, status: Status) -> Standing:
    """A service's line from its counts over `span` with the expected level (`with_band`, which starts at
    the service's first post; empty: no posts). The trend covers the whole span, zero before that post."""
    if band.empty:
        return Standing(service, display, status, 0, 0.0, pd.Series(dtype="int64"), None, 0.0)
    last = band.iloc[-max(1, int(LAST_HOUR / span.step)) :]
    bins = pd.date_range(span.start, span.end - span.step, freq=span.step)
    day = int(band["reports"].sum())
    types = band[[t for t in TYPES if t in band.columns]].sum()
    top = str(types.idxmax()) if day and len(types) and types.max() > 0 else None
    return Standing(
        service=service,
        display=display,
        status=status,
        reports=int(last["reports"].sum()),
        usual=float(last["expected"].fillna(0).sum()),
        trend=hourly(band["reports"].reindex(bins, fill_value=0).astype("int64"), span.step),
        top_type=top,
        top_share=float(types[top] / day) if top else 0.0,
    )


def rank(standings: Iterable[Standing]) -> list[Standing]:
    """Worst first: by state, then by the last hour against the usual level, then by reports; services
    with no post at all come last, whatever their ratio (there is nothing to compare)."""
    return sorted(
        standings, key=lambda s: (-SEVERITY[s.status.level], s.trend.empty, -s.ratio, -s.reports, s.display)
    )


def _band(conn: Connection, service: str, version: str, span: Span) -> pd.DataFrame:
    first = queries.post_time(conn, service, first=True)
    if first is None:
        return pd.DataFrame()
    scope = Scope(version, Filters(service), span.history_start, span.end)
    return with_band(queries.report_counts(conn, scope, span.step), span, first)


def standings(
    conn: Connection, services: Iterable[tuple[str, str]], version: str, now: pd.Timestamp
) -> list[Standing]:
    """Every (name, display) service, plus any other the store holds, ranked as of `now`."""
    named = dict(services)
    for name in queries.services(conn):
        named.setdefault(name, name)
    span = window_span(DAY_WINDOW, now, now)
    return rank(
        standing(
            name,
            display,
            _band(conn, name, version, span),
            span,
            current_status(queries.service_incidents(conn, name, version), now),
        )
        for name, display in named.items()
    )
