"""Windows, bins and the expected-level band."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from miner.dashboard.timeline import (
    HISTORY,
    covering,
    incident_span,
    incident_to_open,
    step_for,
    window_span,
    with_band,
)

LATEST = pd.Timestamp("2024-06-10 11:02:30", tz="UTC")
FIRST = pd.Timestamp("2024-05-01 06:00", tz="UTC")


@pytest.mark.parametrize(("length", "step"), [("1D", "5min"), ("7D", "15min"), ("30D", "1h"), ("365D", "1h")])
def test_step_keeps_charts_readable(length: str, step: str) -> None:
    assert step_for(pd.Timedelta(length)) == pd.Timedelta(step)


def test_last_24_hours_end_with_the_newest_post() -> None:
    span = window_span("24 h", FIRST, LATEST)
    assert (span.start, span.end, span.step) == (
        pd.Timestamp("2024-06-09 11:05", tz="UTC"),
        pd.Timestamp("2024-06-10 11:05", tz="UTC"),
        pd.Timedelta("5min"),
    )
    assert span.history_start == span.start - HISTORY


def test_all_covers_every_post() -> None:
    span = window_span("All", FIRST, LATEST)
    assert span.start <= FIRST and span.end > LATEST
    assert span.step == pd.Timedelta("1h")


def test_custom_dates_are_days_of_the_chosen_zone() -> None:
    span = window_span("Custom", FIRST, LATEST, (date(2024, 6, 1), date(2024, 6, 2)), "Europe/Paris")
    assert span.start == pd.Timestamp("2024-05-31 22:00", tz="UTC")  # midnight in Paris (CEST)
    assert span.end == pd.Timestamp("2024-06-02 22:00", tz="UTC")


def test_incident_span_gives_context() -> None:
    start, end = pd.Timestamp("2024-06-10 10:00", tz="UTC"), pd.Timestamp("2024-06-10 10:35", tz="UTC")
    span = incident_span(start, end)
    assert span.start == pd.Timestamp("2024-06-10 08:00", tz="UTC")
    assert span.end == pd.Timestamp("2024-06-10 12:35", tz="UTC")


def test_covering_rounds_outwards() -> None:
    span = covering(pd.Timestamp("2024-06-10 10:03", tz="UTC"), pd.Timestamp("2024-06-10 11:01", tz="UTC"))
    assert (span.start.minute, span.end.minute) == (0, 5)


def test_band_fills_silent_bins_and_learns_only_after_the_first_post() -> None:
    rng = np.random.default_rng(0)
    first = pd.Timestamp("2024-06-01", tz="UTC")
    span = window_span("24 h", first, pd.Timestamp("2024-06-20 23:59", tz="UTC"))
    bins = pd.date_range(first, span.end, freq="5min", inclusive="left")
    counts = pd.DataFrame({"reports": rng.poisson(3, len(bins))}, index=bins)
    counts.iloc[-10:, 0] = 60  # a spike at the end
    band = with_band(counts[counts["reports"] > 0], span, first)
    assert band.index[0] == span.start and len(band) == 288
    assert (band["reports"] >= 0).all() and band["reports"].sum() == counts.loc[span.start :, "reports"].sum()
    assert band["expected"].between(1.5, 6).all()
    assert (band["reports"].iloc[-10:] > band["upper"].iloc[-10:]).all()


def test_band_of_a_span_before_any_post_is_empty() -> None:
    span = window_span("Custom", FIRST, LATEST, (date(2024, 1, 1), date(2024, 1, 2)), "UTC")
    band = with_band(pd.DataFrame({"reports": []}, index=pd.DatetimeIndex([], tz="UTC")), span, FIRST)
    assert band.empty
    assert {"expected", "lower", "upper"} <= set(band.columns)


def _incidents(*spans: tuple[str, str], levels: tuple[str, ...] = ()) -> pd.DataFrame:
    """Stored incidents as the dashboard reads them: id, start, end (the label of the last 5-minute bin),
    level ("outage" unless given)."""
    return pd.DataFrame(
        {
            "id": range(1, len(spans) + 1),
            "start": [pd.Timestamp(start, tz="UTC") for start, _ in spans],
            "end": [pd.Timestamp(end, tz="UTC") for _, end in spans],
            "level": list(levels) or ["outage"] * len(spans),
        }
    )


def test_a_quiet_window_opens_on_the_newest_incident() -> None:
    span = window_span("24 h", FIRST, LATEST)  # 2024-06-09 11:05 to 2024-06-10 11:05
    older = _incidents(("2024-05-02 10:00", "2024-05-02 11:00"), ("2024-05-20 18:05", "2024-05-20 20:00"))
    assert incident_to_open(older, span) == 2
    ending_in_window = _incidents(
        ("2024-05-02 10:00", "2024-05-02 11:00"), ("2024-06-09 10:00", "2024-06-09 11:05")
    )
    assert incident_to_open(ending_in_window, span) is None  # its last bin, 11:05-11:10, is on screen
    just_before = _incidents(("2024-06-09 10:00", "2024-06-09 11:00"))  # last bin 11:00-11:05
    assert incident_to_open(just_before, span) == 1
    assert incident_to_open(older.iloc[:0], span) is None


def test_a_quiet_window_prefers_the_newest_outage_to_a_later_possible_one() -> None:
    span = window_span("24 h", FIRST, LATEST)
    spans = (("2024-05-02 10:00", "2024-05-02 11:00"), ("2024-05-20 18:05", "2024-05-20 20:00"))
    assert incident_to_open(_incidents(*spans, levels=("outage", "possible")), span) == 1
    assert incident_to_open(_incidents(*spans, levels=("possible", "possible")), span) == 2
