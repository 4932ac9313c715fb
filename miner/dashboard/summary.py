"""What the page says in words: the service status, the most reported problems, the incident history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from miner.breakdown import by_kind, kind_text, report_shares
from miner.detect import TOTAL, DetectConfig, Incident, status
from miner.labels import KIND_TITLES, KINDS

# Incidents are stored with bin labels; the detector's bin tells where the last bin ends.
INCIDENT_BIN = pd.Timedelta(DetectConfig().freq)
TOP_TYPES = 3
NOT_RECORDED = "not recorded"  # incidents stored before the store kept their series and sensitivity


@dataclass(frozen=True)
class Status:
    """The banner: "ok", "possible" or "outage" at `now`, and since when (None: no incident on record)."""

    level: str
    since: pd.Timestamp | None


def _incident(row: Any) -> Incident:
    """A stored incident as the detector's record."""
    return Incident(
        start=row.start,
        detected_at=row.detected_at,
        peak=row.peak,
        end=row.end,
        peak_count=int(row.peak_count),
        expected_at_peak=float(row.expected_at_peak),
        level=row.level,
        escalated_at=None if pd.isna(row.escalated_at) else row.escalated_at,
    )


def current_status(incidents: pd.DataFrame, now: pd.Timestamp) -> Status:
    """The detector's status at `now` (the newest data, not the wall clock, so old data reads sensibly).

    Problems are dated from the start of the latest incident detected by then; "ok" from its end."""
    known = incidents[incidents["detected_at"] <= now]
    if known.empty:
        return Status("ok", None)
    level = status([_incident(row) for row in known.itertuples()], now)
    latest = known.loc[known["start"].idxmax()]
    return Status(level, latest["start"] if level != "ok" else latest["end"] + INCIDENT_BIN)


def kind_shares(counts: pd.Series) -> dict[str, pd.DataFrame]:
    """Per kind ("what", "where"): its reported types, most reported first, with their count and share of
    all reports in scope. `counts` holds "reports" and one count per type (`queries.type_counts`)."""
    shares = by_kind(report_shares(counts.drop("reports").to_dict(), float(counts["reports"])))
    return {
        kind: pd.DataFrame(
            {
                "type": list(ranked),
                "reports": [int(counts[t]) for t in ranked],
                "share": list(ranked.values()),
            }
        )
        for kind, ranked in shares.items()
    }


def plural(n: int, word: str) -> str:
    """A count with its noun, "1 report" / "2 reports" (English plural by -s: the words we need)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def duration_text(length: pd.Timedelta) -> str:
    """A duration for people: "45 min", "1 h", "2 h 05 min", "3 d 4 h"."""
    minutes = int(length.total_seconds() // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    if not hours:
        return f"{mins} min"
    return f"{hours} h {mins:02d} min" if mins else f"{hours} h"


def local_time(stamp: pd.Timestamp, tz: str) -> str:
    """A timestamp in the chosen zone, e.g. "2024-06-11 21:05 CEST"."""
    return stamp.tz_convert(tz).strftime("%Y-%m-%d %H:%M %Z")


def series_text(series: Any) -> str:
    """The count series that fired, for people: "all reports", "dm", "all reports, dm"."""
    if not isinstance(series, list | tuple) or not series:
        return NOT_RECORDED
    return ", ".join("all reports" if name == TOTAL else str(name) for name in series)


def sensitivity_text(setting: Any) -> str:
    """The sensitivity that found an incident ("normal", "2/week")."""
    return setting if isinstance(setting, str) and setting else NOT_RECORDED


def incident_origin(row: Any) -> str:
    """What found an incident, as a clause: "found by dm at normal sensitivity" ("" when not recorded)."""
    series, setting = series_text(row["series"]), sensitivity_text(row["sensitivity"])
    if NOT_RECORDED in (series, setting):
        return ""
    return f"found by {series} at {setting} sensitivity"


def incident_table(incidents: pd.DataFrame, tz: str) -> pd.DataFrame:
    """The history table, one row per incident in the order given, times in `tz`."""
    ends = incidents["end"] + INCIDENT_BIN
    shares = incidents["type_shares"]
    return pd.DataFrame(
        {
            "start": [local_time(t, tz) for t in incidents["start"]],
            "peak": [local_time(t, tz) for t in incidents["peak"]],
            "end": [local_time(t, tz) for t in ends],
            "duration": [duration_text(d) for d in ends - incidents["start"]],
            "level": incidents["level"].to_numpy(),
            "peak reports": incidents["peak_count"].astype(int).to_numpy(),
            "expected": incidents["expected_at_peak"].round(1).to_numpy(),
            "fired on": [series_text(v) for v in incidents["series"]],
            "sensitivity": [sensitivity_text(v) for v in incidents["sensitivity"]],
            **{
                KIND_TITLES[kind].lower(): [kind_text(s or {}, kind, TOP_TYPES) for s in shares]
                for kind in KINDS
            },
        }
    )


def incidents_export(incidents: pd.DataFrame) -> pd.DataFrame:
    """Stored incidents for the CSV download: `type_shares` becomes one JSON column per kind
    (`what_shares`, `where_shares`: share of the incident's reports naming each type)."""
    split = [by_kind(s or {}) for s in incidents["type_shares"]]
    columns = {f"{kind}_shares": [json.dumps(s[kind]) for s in split] for kind in KINDS}
    series = incidents["series"]
    columns["series"] = [json.dumps(list(s)) if isinstance(s, list | tuple) else None for s in series]
    return incidents.drop(columns="type_shares").assign(**columns)


def incident_label(row: Any, tz: str) -> str:
    """How an incident is named in the selector."""
    return f"{local_time(row.start, tz)} · {row.level} · peak {plural(int(row.peak_count), 'report')}"
