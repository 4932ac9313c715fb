"""The spike detector on synthetic seasonal Poisson counts: no false incidents, fast detection, gaps,
merging, causality, low counts, cold start, status, and counting reports from posts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from miner.detect import (
    NORMAL_MAD,
    DetectConfig,
    Incident,
    ReportCounter,
    _could_alarm,
    _fit_dispersion,
    _rolling,
    _to_bins,
    _upper_tail,
    baseline,
    count_reports,
    detect,
    status,
)
from miner.errors import BadInput
from miner.labels import TYPES
from miner.sensitivity import SENSITIVITY

START = pd.Timestamp("2024-03-04", tz="UTC")  # a Monday
BIN = pd.Timedelta("5min")
PER_DAY = 288
PROPERTY = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def seasonal_mean(days: int, level: float) -> np.ndarray:
    """Expected reports per 5-minute bin: a daily cycle (busy evenings) and quieter weekends."""
    index = pd.date_range(START, periods=days * PER_DAY, freq=BIN)
    hours = (index.hour + index.minute / 60).to_numpy()
    weekend = np.where(index.day_of_week.to_numpy() >= 5, 0.7, 1.0)
    return level * (1 + 0.5 * np.sin(2 * np.pi * (hours - 12) / 24)) * weekend


def series(mu: np.ndarray, seed: int) -> pd.Series:
    counts = np.random.default_rng(seed).poisson(mu).astype(float)
    return pd.Series(counts, index=pd.date_range(START, periods=len(mu), freq=BIN))


def with_spike(mu: np.ndarray, at: int, bins: int = 6, factor: float = 5.0) -> np.ndarray:
    """The expected level multiplied by `factor` over `bins` bins from position `at` (30 min by default)."""
    out = mu.copy()
    out[at : at + bins] *= factor
    return out


def detection_delay(incidents: list[Incident], spike: pd.Timestamp) -> pd.Timedelta | None:
    """Delay of the first incident detected at or after the spike start (None if none)."""
    late = [i.detected_at - spike for i in incidents if i.detected_at >= spike]
    return min(late) if late else None


# A month of clean data -------------------------------------------------------------------------------


@PROPERTY
@given(level=st.floats(0.3, 300), seed=st.integers(0, 10_000))
def test_clean_seasonal_month_raises_no_incident(level: float, seed: int) -> None:
    assert detect(series(seasonal_mean(35, level), seed)) == []


def test_baseline_learns_the_daily_and_weekly_cycle() -> None:
    mu = seasonal_mean(42, 20.0)
    band = baseline(series(mu, 1))
    last_week = slice(35 * PER_DAY, None)
    error = np.abs(band["expected"].to_numpy()[last_week] / mu[last_week] - 1)
    assert np.median(error) < 0.1
    known = band.dropna()
    assert len(known) == len(band) - PER_DAY // 12  # only the first two hours have no level yet
    assert (known["lower"] <= known["expected"]).all() and (known["expected"] < known["upper"]).all()
    assert list(band.columns) == ["count", "expected", "lower", "upper", "p_value"]


@PROPERTY
@given(level=st.floats(0.3, 300), seed=st.integers(0, 10_000), start=st.integers(-PER_DAY, 10 * PER_DAY))
def test_a_baseline_from_a_start_is_the_tail_of_the_whole_one(level: float, seed: int, start: int) -> None:
    counts = series(seasonal_mean(9, level), seed)
    at = START + start * BIN  # before the first bin, inside, or after the last
    pd.testing.assert_frame_equal(baseline(counts, start=at), baseline(counts).loc[at:])


# Spikes ----------------------------------------------------------------------------------------------


@PROPERTY
@given(level=st.floats(10, 200), slot=st.integers(0, 7 * PER_DAY - 7), seed=st.integers(0, 10_000))
def test_five_fold_half_hour_spike_is_found_within_15_minutes(level: float, slot: int, seed: int) -> None:
    at = 28 * PER_DAY + slot
    incidents = detect(series(with_spike(seasonal_mean(35, level), at), seed))
    delay = detection_delay(incidents, START + at * BIN)
    assert delay is not None and delay <= pd.Timedelta("15min")
    assert len(incidents) == 1


@PROPERTY
@given(slot=st.integers(0, 7 * PER_DAY - 7), seed=st.integers(0, 10_000))
def test_scaling_counts_tenfold_keeps_answers_sane(slot: int, seed: int) -> None:
    at = 28 * PER_DAY + slot
    counts = series(with_spike(seasonal_mean(35, 20.0), at), seed)
    for scaled in (counts, counts * 10):
        incidents = detect(scaled)
        assert [i.detected_at >= START + at * BIN for i in incidents] == [True]
        assert detection_delay(incidents, START + at * BIN) <= pd.Timedelta("15min")


def test_incident_fields_describe_the_spike() -> None:
    at = 30 * PER_DAY + 150
    [incident] = detect(series(with_spike(seasonal_mean(35, 20.0), at, factor=8), 3))
    assert START + (at - 3) * BIN <= incident.start <= incident.detected_at <= incident.peak <= incident.end
    assert incident.end <= START + (at + 12) * BIN
    assert incident.peak_count > 4 * incident.expected_at_peak > 0
    assert incident.level == "outage" and incident.escalated_at is not None
    as_dict = incident.to_dict()
    assert as_dict["detected_at"] == incident.detected_at.isoformat()
    assert pd.Timestamp(as_dict["start"]) == incident.start


def test_mild_rise_is_possible_not_outage() -> None:
    at = 30 * PER_DAY + 150
    [incident] = detect(series(with_spike(seasonal_mean(35, 40.0), at, bins=24, factor=3), 4))
    assert incident.level == "possible" and incident.escalated_at is None


# Gaps ------------------------------------------------------------------------------------------------


@PROPERTY
@given(
    first=st.integers(8 * PER_DAY, 34 * PER_DAY),
    length=st.integers(1, 3 * PER_DAY),
    seed=st.integers(0, 10_000),
    as_nan=st.booleans(),
)
def test_gap_in_the_data_creates_no_incident(first: int, length: int, seed: int, as_nan: bool) -> None:
    counts = series(seasonal_mean(38, 15.0), seed)
    gap = counts.index[first : first + length]
    counts = counts.where(~counts.index.isin(gap)) if as_nan else counts.drop(gap)
    assert detect(counts) == []


def test_spike_after_a_gap_is_still_found() -> None:
    mu = with_spike(seasonal_mean(35, 20.0), 31 * PER_DAY)
    counts = series(mu, 5).drop(pd.date_range(START + 30 * PER_DAY * BIN, periods=PER_DAY // 2, freq=BIN))
    assert detection_delay(detect(counts), START + 31 * PER_DAY * BIN) <= pd.Timedelta("15min")


# Merging and causality -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apart", "expected"),
    [(pd.Timedelta("1h"), 1), (pd.Timedelta("3h"), 1), (pd.Timedelta("1D"), 2), (pd.Timedelta("9h"), 2)],
)
def test_nearby_alarms_merge_into_one_incident(apart: pd.Timedelta, expected: int) -> None:
    first = 30 * PER_DAY + 100
    mu = with_spike(with_spike(seasonal_mean(35, 20.0), first), first + apart // BIN)
    incidents = detect(series(mu, 6))
    assert len(incidents) == expected
    assert incidents[0].detected_at - START - first * BIN <= pd.Timedelta("15min")


@settings(max_examples=8, deadline=None, derandomize=True)
@given(cut=st.integers(29 * PER_DAY, 35 * PER_DAY - 1))  # a cut inside the 35-day series
def test_detection_is_causal(cut: int) -> None:
    mu = seasonal_mean(35, 20.0)
    for at, factor in (
        (29 * PER_DAY + 40, 5),
        (30 * PER_DAY + 200, 3),
        (32 * PER_DAY + 10, 8),
        (33 * PER_DAY + 100, 4),
        (34 * PER_DAY + 250, 6),
    ):
        mu = with_spike(mu, at, bins=12, factor=factor)
    counts = series(mu, 8)
    whole = [i.detected_at for i in detect(counts)]
    prefix = [i.detected_at for i in detect(counts.iloc[:cut])]
    assert len(whole) >= 4
    assert prefix == [t for t in whole if t < counts.index[cut]]
    pd.testing.assert_frame_equal(baseline(counts.iloc[:cut]), baseline(counts).iloc[:cut])


# Low counts and cold start ---------------------------------------------------------------------------


def low_counts(spike: float, bins: int, seed: int = 9) -> tuple[pd.Series, int]:
    """A service with a few reports a day (~0.05 per bin), and `spike` reports per bin for `bins` bins."""
    counts = series(seasonal_mean(35, 0.05), seed)
    at = 30 * PER_DAY + 100
    counts.iloc[at : at + bins] = spike
    return counts, at


@pytest.mark.parametrize("bins", [1, 2])
def test_low_count_jump_to_three_is_not_an_incident(bins: int) -> None:
    counts, _ = low_counts(3, bins)
    assert detect(counts) == []


def test_low_count_sustained_jump_to_fifteen_is_an_incident() -> None:
    counts, at = low_counts(15, 6)
    [incident] = detect(counts)
    assert incident.detected_at - counts.index[at] <= pd.Timedelta("10min")
    assert incident.level == "outage"


def test_cold_start_is_quiet_on_clean_data_and_still_sees_a_big_spike() -> None:
    mu = seasonal_mean(5, 20.0)
    assert detect(series(mu, 10)) == []
    at = 3 * PER_DAY + 140
    delay = detection_delay(detect(series(with_spike(mu, at, bins=12, factor=10), 10)), START + at * BIN)
    assert delay is not None and delay <= pd.Timedelta("15min")


def test_first_hours_of_data_raise_nothing() -> None:
    counts = series(seasonal_mean(1, 20.0), 11)
    counts.iloc[10:20] *= 10
    assert detect(counts.iloc[:30]) == []


# Status, type shares, input checks -------------------------------------------------------------------


def test_status_follows_downdetector_states() -> None:
    t = pd.Timestamp("2024-05-01 12:00", tz="UTC")
    possible = Incident(t, t + BIN, t + 2 * BIN, t + 6 * BIN, 40, 10.0, "possible")
    outage = Incident(t, t + BIN, t + 2 * BIN, t + 6 * BIN, 80, 10.0, "outage", escalated_at=t + 3 * BIN)
    assert status([possible], t) == "ok"
    assert status([possible], t + BIN) == "possible"
    assert [status([outage], t + k * BIN) for k in (2, 3, 6)] == ["possible", "outage", "outage"]
    assert status([outage], t + 6 * BIN + pd.Timedelta(DetectConfig().hold)) == "outage"
    assert status([outage], t + 7 * BIN + pd.Timedelta(DetectConfig().hold)) == "ok"
    assert status([], t) == "ok"


def test_type_shares_of_an_incident() -> None:
    at = 30 * PER_DAY + 150
    counts = series(with_spike(seasonal_mean(35, 20.0), at), 12)
    types = pd.DataFrame({"login": np.zeros(len(counts)), "app": np.zeros(len(counts))}, index=counts.index)
    types.iloc[at : at + 6] = [[30, 10]] * 6
    [incident] = detect(counts, type_counts=types)
    reports = counts.loc[incident.start : incident.end].sum()
    window = types.loc[incident.start : incident.end].sum()
    # shares of the incident's reports, not of type mentions: a report may name a type of each kind
    assert incident.type_shares == pytest.approx(
        {"login": window["login"] / reports, "app": window["app"] / reports}
    )
    assert incident.to_dict()["where_shares"] == pytest.approx({"app": window["app"] / reports})
    assert incident.to_dict()["what_shares"] == pytest.approx({"login": window["login"] / reports})
    assert detect(counts)[0].type_shares == {}


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2024-01-01", periods=10, freq="5min"),  # no time zone
        pd.date_range("2024-01-01", periods=10, freq="7min", tz="UTC"),  # bins of the wrong width
        pd.DatetimeIndex([]).tz_localize("UTC"),
    ],
)
def test_unusable_index_is_a_bad_input(index: pd.DatetimeIndex) -> None:
    with pytest.raises(BadInput):
        detect(pd.Series(np.ones(len(index)), index=index))


def test_coarser_bins_are_supported() -> None:
    hourly = series(seasonal_mean(35, 2.0), 13).resample("1h").sum()
    assert detect(hourly, DetectConfig(freq="1h")) == []
    assert len(baseline(hourly, DetectConfig(freq="1h"))) == len(hourly)


# Counting reports from posts -------------------------------------------------------------------------


def posts(rows: list[tuple[int, str, str, bool, list[str]]]) -> pd.DataFrame:
    """Posts from (minutes after 10:00, author, service, is_outage, types)."""
    t0 = pd.Timestamp("2024-06-11 10:00", tz="UTC")
    return pd.DataFrame(
        [(t0 + pd.Timedelta(minutes=m), *rest) for m, *rest in rows],
        columns=["created_at", "author", "service", "is_outage", "types"],
    )


def test_one_report_per_author_per_service_per_hour() -> None:
    angry = [(m, "a1", "free", True, ["app"]) for m in range(0, 40, 2)]  # twenty posts in 40 min
    frame = posts(
        [
            *angry,
            (61, "a1", "free", True, ["login"]),
            (5, "a1", "sfr", True, ["app"]),
            (6, "a2", "free", True, ["app", "login"]),
            (7, "a3", "free", False, []),
        ]
    )
    counts = count_reports(frame, "1h")
    assert counts.loc[("free", pd.Timestamp("2024-06-11 10:00", tz="UTC"))].to_dict() == {
        "reports": 2,
        "app": 2,
        "login": 1,
    }
    assert counts.loc[("free", pd.Timestamp("2024-06-11 11:00", tz="UTC")), "reports"] == 1
    assert counts.xs("sfr")["reports"].sum() == 1


def test_official_accounts_are_excluded() -> None:
    frame = posts([(0, "brand", "free", True, ["app"]), (1, "a1", "free", True, ["app"])])
    assert count_reports(frame, "5min", excluded_authors={"brand"})["reports"].sum() == 1
    assert count_reports(frame, "5min")["reports"].sum() == 2


def test_bins_without_reports_are_explicit_zeros() -> None:
    frame = posts([(0, "a1", "free", True, []), (50, "a2", "free", True, []), (20, "a3", "sfr", False, [])])
    counts = count_reports(frame, "10min")
    assert counts.xs("free")["reports"].tolist() == [1, 0, 0, 0, 0, 1]
    assert counts.xs("sfr")["reports"].tolist() == [0] * 6


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 200),
            st.sampled_from(["a", "b", "c", "", "brand"]),
            st.sampled_from(["free", "sfr"]),
            st.booleans(),
            st.lists(st.sampled_from(TYPES), max_size=3, unique=True),
        ),
        max_size=80,
    ),
    cuts=st.lists(st.integers(0, 80), max_size=6),
)
@example(rows=[(1, "a", "free", True, ["app"]), (10, "a", "free", True, ["dm"])], cuts=[1])  # across chunks
def test_counting_in_chunks_is_counting_at_once(rows: list, cuts: list[int]) -> None:
    """A service's reports streamed through ReportCounter in chunks of any size give count_reports."""
    frame = posts([(0, "z", "free", False, []), *rows])  # "free" has a post, maybe no report
    frame = frame.drop_duplicates(["created_at", "author", "service"])  # no same-second ties of one author
    whole = count_reports(frame, "5min", excluded_authors={"brand"})
    grid = whole.xs("free").index
    counter = ReportCounter(grid, DetectConfig(freq="5min"), excluded_authors={"brand"})
    mine = frame[frame["is_outage"] & (frame["service"] == "free")].sort_values("created_at", kind="stable")
    flags = np.array([[t in types for t in TYPES] for types in mine["types"]], bool).reshape(-1, len(TYPES))
    bounds = [0, *sorted(c for c in cuts if c < len(mine)), len(mine)]
    for lo, hi in itertools.pairwise(bounds):
        chunk = mine.iloc[lo:hi]
        counter.add(pd.DatetimeIndex(chunk["created_at"]), chunk["author"].tolist(), flags[lo:hi])
    streamed = counter.counts()
    pd.testing.assert_frame_equal(streamed[whole.columns], whole.xs("free"), check_names=False)
    assert not streamed.drop(columns=whole.columns).to_numpy().any()  # types no report names: zeros


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["free", "sfr"]),
            st.booleans(),
            st.just(["app"]),
        ),
        max_size=60,
    )
)
def test_no_author_counts_twice_within_an_hour(rows: list) -> None:
    frame = posts(rows)
    counts = count_reports(frame, "5min")
    outage = frame[frame["is_outage"].astype(bool)]
    assert counts["reports"].sum() <= len(outage)
    assert counts["reports"].sum() >= outage.groupby(["service", "author"]).ngroups
    per_window = counts["reports"].groupby(level="service").rolling(12).sum()
    assert (per_window.fillna(0) <= 3).all()  # three authors: at most one report each per hour


# Sensitivity --------------------------------------------------------------------------------------------


def chatter(seed: int, days: int = 42, level: float = 20.0) -> pd.Series:
    """Seasonal counts with news-like chatter: most days a short burst of 2-8x, as brands' volumes have."""
    rng = np.random.default_rng(seed)
    mu = seasonal_mean(days, level)
    for day in range(days):
        if rng.random() < 0.8:
            at = day * PER_DAY + int(rng.integers(0, PER_DAY - 12))
            mu = with_spike(mu, at, bins=int(rng.integers(1, 12)), factor=float(rng.uniform(2, 8)))
    return series(mu, seed)


def covered(incident: Incident, by: list[Incident]) -> bool:
    """Whether an incident of `by` holds this incident's alarm and raised its own no later."""
    return any(i.start <= incident.detected_at <= i.end and i.detected_at <= incident.detected_at for i in by)


@PROPERTY
@given(seed=st.integers(0, 10_000))
def test_higher_sensitivity_keeps_every_alarm_and_adds_some(seed: int) -> None:
    counts = chatter(seed)
    found = {
        name: detect(counts, DetectConfig(false_alarms_per_week=rate)) for name, rate in SENSITIVITY.items()
    }
    assert all(covered(i, found["normal"]) for i in found["low"])
    assert all(covered(i, found["high"]) for i in found["normal"])
    assert len(found["low"]) < len(found["high"])


def test_sensitivity_names_and_bounds() -> None:
    assert DetectConfig().sensitivity == "normal"
    assert DetectConfig(false_alarms_per_week=SENSITIVITY["high"]).sensitivity == "high"
    assert DetectConfig(false_alarms_per_week=1.5).sensitivity == "1.5/week"
    for rate in (0, -1, 8, float("nan")):
        with pytest.raises(BadInput, match="false alarms per week"):
            DetectConfig(false_alarms_per_week=rate)


def test_incidents_record_the_setting_that_found_them() -> None:
    at = 30 * PER_DAY + 150
    counts = series(with_spike(seasonal_mean(35, 20.0), at, factor=8), 3)
    [incident] = detect(counts, DetectConfig(false_alarms_per_week=SENSITIVITY["low"]))
    assert incident.sensitivity == "low" and incident.to_dict()["sensitivity"] == "low"
    assert incident.series == ("reports",) and incident.to_dict()["series"] == ["reports"]


# Per-type series ---------------------------------------------------------------------------------------


def typed_service(seed: int, dm_spike: float) -> tuple[pd.Series, pd.DataFrame, int]:
    """A busy service (~40 reports per bin, mostly app) where DMs fail for half an hour: the total rises
    by a third at most, the DM series many times over."""
    rng = np.random.default_rng(seed)
    base = seasonal_mean(35, 1.0)
    means = {"app": 30 * base, "feed": 8 * base, "dm": 2 * base}
    at = 30 * PER_DAY + 150
    means["dm"] = means["dm"] + np.where(
        (np.arange(len(base)) >= at) & (np.arange(len(base)) < at + 6), dm_spike, 0
    )
    index = pd.date_range(START, periods=len(base), freq=BIN)
    types = pd.DataFrame({t: rng.poisson(m).astype(float) for t, m in means.items()}, index=index)
    return types.sum(axis=1), types, at


@PROPERTY
@given(seed=st.integers(0, 10_000))
def test_a_failing_type_is_found_when_the_total_barely_moves(seed: int) -> None:
    total, types, at = typed_service(seed, dm_spike=12.0)
    assert detect(total) == []
    [incident] = detect(total, type_counts=types)
    assert incident.series == ("dm",)
    assert counts_delay(incident, START + at * BIN) <= pd.Timedelta("15min")
    assert incident.type_shares["dm"] > types["dm"].mean() / total.mean()


def counts_delay(incident: Incident, spike: pd.Timestamp) -> pd.Timedelta:
    return incident.detected_at - spike


def test_type_series_without_a_spike_add_no_incident() -> None:
    total, types, _ = typed_service(4, dm_spike=0.0)
    assert detect(total, type_counts=types) == []


@pytest.mark.parametrize(("reports", "could"), [(4, False), (5, True)])
def test_a_type_series_too_thin_to_alarm_is_skipped(reports: int, could: bool) -> None:
    """Every test needs `min_excess` reports in its bin or window: the widest window (3 h) holds most."""
    counts = pd.Series(0.0, index=pd.date_range(START, periods=PER_DAY, freq=BIN))
    counts.iloc[np.arange(reports) * 8] = 1  # spread over 36 bins: only the 3-hour window sees them all
    assert _could_alarm(counts.drop(counts.index[200:210]), DetectConfig()) is could


@settings(max_examples=6, deadline=None, derandomize=True)
@given(cut=st.integers(30 * PER_DAY + 140, 35 * PER_DAY - 1))
def test_type_series_keep_detection_causal(cut: int) -> None:
    total, types, at = typed_service(6, dm_spike=12.0)
    total.iloc[at + 300 : at + 312] *= 5  # and a later outage of everything
    whole = [i.detected_at for i in detect(total, type_counts=types)]
    prefix = [i.detected_at for i in detect(total.iloc[:cut], type_counts=types.iloc[:cut])]
    assert len(whole) == 2
    assert prefix == [t for t in whole if t < total.index[cut]]


def test_series_firing_together_make_one_incident_first_to_fire_first() -> None:
    total, types, at = typed_service(5, dm_spike=12.0)
    total.iloc[at + 2 : at + 8] *= 4  # then everything fails
    [incident] = detect(total, type_counts=types)
    assert incident.series[0] == "dm" and "reports" in incident.series


# Numeric helpers ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    values=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=60),
    width=st.integers(1, 12),
)
def test_rolling_sum_matches_the_naive_one(values: list[float], width: int) -> None:
    a = np.array(values)
    naive = [a[max(0, i - width + 1) : i + 1].sum() for i in range(len(a))]
    np.testing.assert_allclose(_rolling(a, width), naive, rtol=1e-9, atol=1e-6)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), per_hour=st.sampled_from([1, 2, 4, 12, 60]))
def test_hourly_values_to_bins_interpolate_like_numpy(seed: int, per_hour: int) -> None:
    hourly = np.random.default_rng(seed).random((3, 24))
    slots = (np.arange(24 * per_hour) + 0.5) / per_hour
    expected = [np.interp(slots, np.arange(24) + 0.5, row) for row in hourly]
    np.testing.assert_allclose(_to_bins(hourly, 24 * per_hour), expected)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(mu=st.floats(0.05, 5000), alpha=st.sampled_from([0.0, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0]))
def test_counts_within_two_standard_deviations_are_never_rare(mu: float, alpha: float) -> None:
    """The premise of computing tail probabilities only beyond two standard deviations (`p_warm`)."""
    x = np.floor(mu + 2 * np.sqrt(mu + alpha * mu**2))
    p = _upper_tail(np.array([x]), np.array([mu]), np.array([alpha]), np.array([True]))
    assert p[0] >= 0.01 > DetectConfig().p_warm


@settings(max_examples=20, deadline=None, derandomize=True)
@given(alpha=st.floats(0.01, 3.0), level=st.floats(1.0, 200.0), seed=st.integers(0, 10_000))
def test_fitted_dispersion_gives_residuals_a_normal_median(alpha: float, level: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu = np.full((1, 2000), level)
    x = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    [fitted] = _fit_dispersion(x, mu, 0.5)
    z = np.median(np.abs(x - mu) / np.sqrt(mu + fitted * mu**2))
    # Integer counts make the median a step function: it reaches the normal's median, or Poisson is enough.
    assert z == pytest.approx(NORMAL_MAD, abs=0.02) or (fitted == 0 and z <= NORMAL_MAD)
    if level >= 20 and alpha <= 0.3:  # counts far from 0 and mildly skewed: the spread is recovered
        assert np.sqrt((mu + fitted * mu**2) / (mu + alpha * mu**2))[0, 0] == pytest.approx(1, abs=0.25)
