"""The overview's figures: hourly sums counted back from now, a service's line, the ranking, and the reading
of a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from miner.dashboard.overview import Standing, hourly, rank, standing, standings
from miner.dashboard.summary import Status
from miner.dashboard.timeline import Span
from miner.labels import TYPES
from tests.dashboard import sample

STEP = pd.Timedelta(minutes=5)
END = pd.Timestamp("2024-06-10 11:05", tz="UTC")
DAY = Span(END - pd.Timedelta(days=1), END, STEP)


def band(reports: list[int], expected: float = 0.5, **types: list[int]) -> pd.DataFrame:
    """A day of 5-minute bins as `with_band` gives them, ending at END."""
    index = pd.date_range(end=END - STEP, periods=len(reports), freq=STEP)
    columns = {t: types.get(t, [0] * len(reports)) for t in TYPES}
    return pd.DataFrame({"reports": reports, **columns, "expected": expected}, index=index)


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(0, 50), min_size=1, max_size=300))
def test_hourly_sums_keep_every_report_and_end_with_the_last_hour(counts: list[int]) -> None:
    reports = band(counts)["reports"]
    per_hour = hourly(reports, STEP)
    assert per_hour.sum() == sum(counts)
    assert per_hour.iloc[-1] == sum(counts[-12:])  # the last hour is whole, however the day is cut
    assert len(per_hour) == -(-len(counts) // 12)
    assert per_hour.index.is_monotonic_increasing and per_hour.index[0] == reports.index[0]


def test_a_service_line_reads_the_last_hour_the_usual_level_and_the_top_type() -> None:
    day = [1] * 276 + [4] * 12
    app = [0] * 276 + [3] * 12
    line = standing("free", "Free", band(day, expected=0.25, app=app), DAY, Status("outage", END))
    assert (line.reports, line.usual) == (48, 3.0)  # 12 bins of 4 against 12 x 0.25
    assert line.ratio == 49 / 4
    assert line.top_type == "app" and line.top_share == 36 / (276 + 48)
    assert line.trend.tolist() == [12] * 23 + [48]


def test_a_service_new_today_has_a_whole_day_of_trend() -> None:
    line = standing("sfr", "SFR", band([2] * 30, expected=0.1), DAY, Status("ok", None))
    assert len(line.trend) == 24 and line.trend.index[0] == DAY.start
    assert line.trend.tolist() == [0] * 21 + [12, 24, 24] and line.reports == 24


def test_a_service_without_posts_has_an_empty_line() -> None:
    line = standing("sfr", "SFR", pd.DataFrame(), DAY, Status("ok", None))
    assert (line.reports, line.usual, line.top_type, line.trend.empty, line.ratio) == (
        0,
        0.0,
        None,
        True,
        1.0,
    )


def _line(name: str, level: str, reports: int, usual: float, posts: bool = True) -> Standing:
    trend = pd.Series([reports]) if posts else pd.Series(dtype="int64")
    return Standing(name, name.title(), Status(level, None), reports, usual, trend, None, 0.0)


def test_worst_first_then_above_usual_then_silent_services_last() -> None:
    lines = [
        _line("quiet", "ok", 0, 2.0),
        _line("silent", "ok", 0, 0.0, posts=False),
        _line("busy", "ok", 30, 20.0),  # 1.48x its usual level
        _line("rising", "ok", 5, 0.2),  # 5x
        _line("flagged", "possible", 2, 1.0),
        _line("down", "outage", 1, 0.0),
    ]
    assert [s.service for s in rank(lines)] == ["down", "flagged", "rising", "busy", "quiet", "silent"]


def test_the_sample_store_reads_as_its_service_page_does(engine: Engine) -> None:
    sample.fill(engine)
    now = pd.Timestamp(sample.NOW)
    with engine.connect() as conn:
        lines = standings(conn, [("free", "Free"), ("sfr", "SFR")], sample.MODEL, now)
    assert [s.service for s in lines] == ["free", "orange", "sfr"]  # orange: in the store, not in the list
    free, orange, sfr = lines
    assert free.status.level == "outage" and free.status.since == pd.Timestamp(sample.INCIDENT_START)
    last_hour = [
        r
        for r in sample.REPORTS
        if r.service == "free" and r.outage and r.at >= sample.NOW - pd.Timedelta(minutes=55)
    ]
    assert free.reports == len(last_hour) and free.top_type == "app"
    assert int(free.trend.sum()) == 58  # the service page's 24-hour chart (tests/test_app.py)
    assert orange.display == "orange" and orange.status.level == "ok" and orange.reports == 0
    assert int(orange.trend.sum()) == 4 and orange.top_type == "website" and orange.top_share == 1.0
    assert sfr.trend.empty and np.isclose(sfr.ratio, 1.0)
