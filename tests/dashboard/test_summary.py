"""Status banner, type shares and the incident table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from miner.dashboard.summary import (
    current_status,
    duration_text,
    incident_label,
    incident_origin,
    incident_table,
    incidents_export,
    kind_shares,
    plural,
)
from miner.detect import DetectConfig
from miner.labels import TYPES

T = pd.Timestamp("2024-06-10 10:00", tz="UTC")


def incidents(*rows: tuple[str, int, int, str]) -> pd.DataFrame:
    """Incidents as `service_incidents` returns them, from (start offset, detection delay, minutes, level)."""
    frame = pd.DataFrame(
        [
            (
                i,
                T + pd.Timedelta(start),
                T + pd.Timedelta(start) + pd.Timedelta(minutes=delay),
                T + pd.Timedelta(start),
                T + pd.Timedelta(start) + pd.Timedelta(minutes=length),
                12,
                1.25,
                level,
                T + pd.Timedelta(start) + pd.Timedelta(minutes=delay) if level == "outage" else pd.NaT,
                {"app": 0.75, "login": 0.25},
                ["reports", "app"] if i == 0 else None,
                "normal" if i == 0 else None,
            )
            for i, (start, delay, length, level) in enumerate(rows)
        ],
        columns=[
            "id",
            "start",
            "detected_at",
            "peak",
            "end",
            "peak_count",
            "expected_at_peak",
            "level",
            "escalated_at",
            "type_shares",
            "series",
            "sensitivity",
        ],
    )
    stamps = ("start", "detected_at", "peak", "end", "escalated_at")
    return frame.assign(
        **{c: pd.to_datetime(frame[c], utc=True).astype("datetime64[us, UTC]") for c in stamps}
    )


HOLD = pd.Timedelta(DetectConfig().hold)


@pytest.mark.parametrize(
    ("now", "level", "since"),
    [
        (pd.Timedelta(0), "ok", None),  # not detected yet
        (pd.Timedelta("20min"), "outage", "0min"),
        (pd.Timedelta("30min") + HOLD, "outage", "0min"),  # the detector still holds it open
        (pd.Timedelta("35min") + HOLD, "ok", "35min"),  # over: calm since the end of its last bin
    ],
)
def test_status_follows_the_detector(now: pd.Timedelta, level: str, since: str | None) -> None:
    state = current_status(incidents(("0min", 10, 30, "outage")), T + now)
    assert state.level == level
    assert state.since == (None if since is None else T + pd.Timedelta(since))


def test_status_of_a_possible_incident_and_of_none() -> None:
    assert (
        current_status(incidents(("0min", 5, 30, "possible")), T + pd.Timedelta("10min")).level == "possible"
    )
    assert current_status(incidents(), T).level == "ok"


def test_shares_are_of_reports_split_by_kind_and_skip_unreported_types() -> None:
    # 20 reports: 12 name the app, 5 the website (some both), 3 say DMs fail, 10 say posting fails
    counts = pd.Series([20, 10, 3, 12, 5, 0, 0, 0, 0], index=["reports", *TYPES])
    shares = kind_shares(counts)
    assert list(shares) == ["what", "where"]
    assert shares["what"]["type"].tolist() == ["posting", "dm"]
    assert shares["what"]["share"].tolist() == pytest.approx([0.5, 0.15])
    assert shares["where"]["type"].tolist() == ["app", "website"]
    assert shares["where"]["share"].tolist() == pytest.approx([0.6, 0.25])
    assert shares["where"]["reports"].tolist() == [12, 5]
    none = kind_shares(pd.Series(0, index=["reports", *TYPES]))
    assert none["what"].empty and none["where"].empty


def test_counts_are_pluralised() -> None:
    assert [plural(n, "report") for n in (0, 1, 2, 1500)] == [
        "0 reports",
        "1 report",
        "2 reports",
        "1,500 reports",
    ]
    row = pd.Series(
        {"start": pd.Timestamp("2024-07-19 18:05", tz="UTC"), "level": "possible", "peak_count": 1.0}
    )
    assert incident_label(row, "UTC") == "2024-07-19 18:05 UTC · possible · peak 1 report"


@pytest.mark.parametrize(
    ("length", "text"), [("45min", "45 min"), ("1h", "1 h"), ("2h5min", "2 h 05 min"), ("3D4h", "3 d 4 h")]
)
def test_durations_read_naturally(length: str, text: str) -> None:
    assert duration_text(pd.Timedelta(length)) == text


def test_incident_table_in_local_time() -> None:
    table = incident_table(incidents(("0min", 10, 30, "outage")), "Europe/Paris")
    row = table.iloc[0].to_dict()
    assert row == {
        "start": "2024-06-10 12:00 CEST",
        "peak": "2024-06-10 12:00 CEST",
        "end": "2024-06-10 12:35 CEST",
        "duration": "35 min",
        "level": "outage",
        "peak reports": 12,
        "expected": 1.2,
        "what fails": "login 25 %",
        "where it is seen": "app 75 %",
        "fired on": "all reports, app",
        "sensitivity": "normal",
    }


def test_incident_export_has_one_share_column_per_kind() -> None:
    exported = incidents_export(incidents(("0min", 10, 30, "outage"), ("2h", 5, 10, "possible")))
    assert "type_shares" not in exported.columns
    assert json.loads(exported["series"].iloc[0]) == ["reports", "app"]
    assert pd.isna(exported["series"].iloc[1])
    assert exported["sensitivity"].iloc[0] == "normal" and pd.isna(exported["sensitivity"].iloc[1])
    assert json.loads(exported["what_shares"].iloc[0]) == {"login": 0.25}
    assert json.loads(exported["where_shares"].iloc[0]) == {"app": 0.75}


def test_incidents_found_before_the_store_kept_their_origin_say_so() -> None:
    frame = incidents(("0min", 10, 30, "outage"), ("2h", 5, 10, "possible"))
    table = incident_table(frame, "UTC")
    assert list(table["fired on"]) == ["all reports, app", "not recorded"]
    assert list(table["sensitivity"]) == ["normal", "not recorded"]
    assert incident_origin(frame.iloc[0]) == "found by all reports, app at normal sensitivity"
    assert incident_origin(frame.iloc[1]) == ""
