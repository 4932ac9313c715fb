"""Time windows, bin sizes and the expected-level band drawn behind the report counts.

Pure functions on UTC pandas timestamps; the chosen time zone only matters for custom date ranges
and for display (see `miner.dashboard.charts`).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date

import pandas as pd

from miner.dashboard.summary import INCIDENT_BIN
from miner.detect import DetectConfig, baseline

WINDOWS: dict[str, pd.Timedelta | None] = {
    "24 h": pd.Timedelta(days=1),
    "7 d": pd.Timedelta(days=7),
    "30 d": pd.Timedelta(days=30),
    "All": None,
    "Custom": None,
}
"""Window choices offered to the user; None means the span comes from the data or from dates."""
ALL_TIME, CUSTOM = "All", "Custom"
# Bin sizes the detector's baseline accepts (a divisor of an hour, or one hour), finest first.
STEPS = tuple(pd.Timedelta(s) for s in ("5min", "15min", "30min", "1h"))
# A chart of more bins than this is unreadable and slow to ship to the browser; coarser bins instead.
MAX_BINS = 800
# The baseline learns from this much history before the first bin shown.
HISTORY = pd.Timedelta(days=DetectConfig().history_days)
# Context drawn around a focused incident: at least this much, or its own duration on each side.
INCIDENT_MARGIN = pd.Timedelta(hours=2)
_TICK = pd.Timedelta(microseconds=1)
TIME_ZONES = tuple(sorted(zoneinfo.available_timezones()))
"""Zones offered for display (read once per process: listing them scans the system's zone files)."""


@dataclass(frozen=True)
class Span:
    """The bins shown: [start, end) in UTC on a grid of `step` (bins are multiples of step since 1970)."""

    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta

    @property
    def history_start(self) -> pd.Timestamp:
        """Where the counts the baseline learns from begin."""
        return self.start - HISTORY


def step_for(duration: pd.Timedelta) -> pd.Timedelta:
    """The finest bin that keeps the chart under MAX_BINS (the coarsest allowed one for long spans)."""
    return next((s for s in STEPS if duration / s <= MAX_BINS), STEPS[-1])


def covering(start: pd.Timestamp, stop: pd.Timestamp) -> Span:
    """Whole bins covering [start, stop)."""
    step = step_for(stop - start)
    return Span(start.floor(step), stop.ceil(step), step)


def local_days(days: tuple[date, date], tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first midnight, midnight after the last day) of a date range picked in time zone `tz`, in UTC."""
    first, last = (pd.Timestamp(d).tz_localize(tz) for d in days)
    return first.tz_convert("UTC"), (last + pd.Timedelta(days=1)).tz_convert("UTC")


def window_span(
    choice: str,
    first: pd.Timestamp,
    latest: pd.Timestamp,
    days: tuple[date, date] | None = None,
    tz: str = "UTC",
) -> Span:
    """The span of a window choice, relative to the service's newest post so old data still shows."""
    length = WINDOWS.get(choice)
    if length is not None:
        step = step_for(length)
        end = latest.floor(step) + step
        return Span(end - length, end, step)
    if choice == CUSTOM and days is not None:
        return covering(*local_days(days, tz))
    return covering(first, latest + _TICK)


def incident_span(start: pd.Timestamp, end: pd.Timestamp) -> Span:
    """Bins around an incident (its `end` is the label of its last bin), with context on both sides."""
    margin = max(INCIDENT_MARGIN, end - start)
    return covering(start - margin, end + margin)


def incident_to_open(incidents: pd.DataFrame, span: Span) -> int | None:
    """The incident a first view focuses on: none when one overlaps the window (it is on screen already) or
    none is stored; else the newest at the highest level stored ("outage" before "possible"), so that a
    quiet last day, or a small burst since, does not hide the outage the data holds."""
    if incidents.empty:
        return None
    shown = (incidents["start"] < span.end) & (incidents["end"] + INCIDENT_BIN > span.start)
    if shown.any():
        return None
    worst = incidents[incidents["level"] == "outage"]
    candidates = worst if not worst.empty else incidents
    return int(candidates.loc[candidates["start"].idxmax(), "id"])


def with_band(counts: pd.DataFrame, span: Span, first: pd.Timestamp) -> pd.DataFrame:
    """Counts on every bin of the span (0 when no report) plus the detector's expected, lower, upper.

    `counts` are `report_counts` from `span.history_start`; bins before the service's first post are
    unknown rather than zero, so the baseline does not learn a false silence."""
    grid = pd.date_range(
        max(span.history_start, first.floor(span.step)), span.end - span.step, freq=span.step
    )
    full = counts.reindex(grid, fill_value=0)
    if full.empty:  # a span before the first post: nothing to learn from, nothing to show
        return full.reindex(columns=[*full.columns, "expected", "lower", "upper"])
    config = DetectConfig(freq=f"{int(span.step.total_seconds()) // 60}min")
    band = baseline(full["reports"], config, span.start)[["expected", "lower", "upper"]]
    return full.join(band).loc[span.start :]
