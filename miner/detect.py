"""Spike detection on per-service outage-report counts, the way Downdetector flags incidents.

Expected level, per bin t on day d at time-of-day slot s: `expected(t) = shape(d, s) * level(d)`.

* `level(d)`: the day's typical rate, the median of the same weekday's levels over the last weeks
  (weekly habits, weekends), else the median of the last seven days.
* `shape(d, s)`: per hour, the median over the trailing days of (that hour's rate / its day's level),
  interpolated linearly to the bin.
* Noise: a negative binomial, variance `mu + alpha * mu**2`, with `alpha` fitted per past day so that the
  median |standardised residual| matches a normal's, then the median of the trailing days' fits.

Only days strictly before the bin's day are used (on the very first day, hours strictly before the bin's
hour), so medians outvote past incidents and nothing leaks from the future: the detector is causal.

Cold start (under `cold_days` days of history): with no past day, the level is the median rate of the
hours already seen that day (from `min_history_hours` on) with a flat shape; with a few past days, shape
and level come from those days. Until `cold_days` days are known the alarm probability is multiplied by
`cold_p_factor` (stricter), and until `min_dispersion_days` days of residuals exist the dispersion is
`cold_dispersion`. Seasonality is in UTC: after a daylight-saving change the medians re-learn the shifted
hours within about two weeks.

A bin is hot when its upper-tail probability is below the alarm probability, it holds `min_excess`
reports more than expected, and it is a multiple of the expected level (at least `min_ratio`, and at least
the service's ordinary daily peaks, see `peak_quantile`). One setting, the sensitivity
(`false_alarms_per_week`, named in `SENSITIVITY`), sets both the alarm probability and the ordinary-peak
bar. An alarm is `persist_k` hot bins among the last `persist_m`, or a hot trailing window (`windows`: a
burst too short for persistence, or a rise too mild per bin but sustained). Runs of elevated bins that
raised an alarm are incidents; incidents closer than `merge_gap` are merged. Given per-type counts, each
type's series is tested the same way and its incidents merge with the total's: an incident says which
series fired. Unknown bins (gaps) are never hot and never learnt from. Everything is array arithmetic over
the whole series (no loop over bins), and the costly tail probabilities are computed only for bins that
pass the cheap tests.

Timestamps are bin labels (the start of the bin); a bin's count is complete at label + freq.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special  # not scipy.stats: its import alone costs ~0.9 s per dashboard start

from miner.breakdown import by_kind, report_shares
from miner.errors import BadInput
from miner.labels import TYPES
from miner.sensitivity import MAX_RATE, SENSITIVITY, sensitivity_name

Level = Literal["possible", "outage"]
TOTAL = "reports"
"""Name of the total count series (all outage reports) in `Incident.series`; type series go by type."""
HOURS = 24
NORMAL_MAD = 0.6745  # median |z| of a standard normal: the target of the dispersion fit


@dataclass(frozen=True)
class DetectConfig:
    """Every constant of the detector, with why it has its value. One is a user setting, the sensitivity
    (`false_alarms_per_week`); the others follow from the reasons given, not from a fit."""

    # Width of one count bin; every duration below is converted with it.
    freq: str = "5min"
    # Days of history for the time-of-day shape, the noise and the ordinary peaks: four weeks outvote a
    # few incident days and still follow slow drift in audience.
    history_days: int = 28
    # Same-weekday days for the day level: four Mondays give a median robust to one bad Monday.
    level_weeks: int = 4
    # With fewer same-weekday days than this the level falls back to the median of the last seven days.
    min_same_weekday: int = 2
    # Half-width (hours) of the window that smooths hourly rates: a low-count service needs ~3 h of bins
    # before its rate is more than 0 or 1.
    smooth_hours: int = 1
    # A past hour, day or window is used only if at least this share of its bins is known.
    min_known_share: float = 0.5
    # Under this many days of known history the detector is in cold start (stricter threshold).
    cold_days: int = 7
    # In cold start the alarm probability is multiplied by this: the profile is still crude.
    cold_p_factor: float = 1e-2
    # Hours of data needed on the very first day before its running median level is trusted.
    min_history_hours: int = 2
    # Over-dispersion assumed until enough residual days exist: 0.1 lets a 5-minute bin of ~100
    # reports vary by about ±32 %, as social-media volume does.
    cold_dispersion: float = 0.1
    # Residual days needed before the fitted over-dispersion replaces the cold default.
    min_dispersion_days: int = 3
    # Expected rate never goes below this (reports per bin): a usually silent service still gets the odd
    # report, and a zero rate would make any report infinitely surprising.
    min_expected: float = 0.05
    # Sensitivity: the false alarms per service-week the operator accepts (`SENSITIVITY` names three).
    # Default: SENSITIVITY["normal"].
    # It sets both thresholds: the ordinary-peak bar (see `peak_quantile`) and the tail probability
    # (`model_share` of the budget spread over the week's tests). 0.5, "normal", was chosen by
    # leave-one-series-out cross-validation on labelled series (`bench/detect_cv.py`).
    false_alarms_per_week: float = SENSITIVITY["normal"]
    # Share of that budget left to chance under the noise model: the negative binomial under-states the
    # tails of real report counts, so its chance alarms get a small part (1e-4 of 0.5 a week is a tail
    # probability of ~8e-9 at 5-minute bins: chance hits negligible, real spikes reach far below).
    model_share: float = 1e-4
    # Looser probability that keeps an incident open once raised (hysteresis), so it is not cut in two.
    # At most 0.01: the tail is only computed for counts beyond two standard deviations above expected.
    p_warm: float = 1e-3
    # Much stricter probability for the "outage" level (Downdetector's red state).
    p_outage: float = 1e-12
    # A hot bin or window holds at least this many reports more than expected: a spike of 3 reports is
    # not an outage, however improbable.
    min_excess: float = 5.0
    # ... and at least this multiple of the expected count (of every bin and window): reports at least
    # double; at high volume a +30 % wobble is significant but is not what users call an outage.
    min_ratio: float = 2.0
    # The "outage" level also needs this multiple of the expected level.
    outage_ratio: float = 4.0
    # Persistence: k hot bins among the last m. 2 of 4 confirms within 5-15 minutes and tolerates dips.
    persist_k: int = 2
    persist_m: int = 4
    # Trailing windows also tested as a whole: 30 min catches a one-bin burst of reports, 3 h a rise too
    # mild per bin but sustained.
    windows: tuple[str, ...] = ("30min", "3h")
    # Ordinary peaks: a day's peak is its largest ratio count/expected among bins (or windows) at least
    # this many reports above expected, so quiet hours with nothing going on do not make peaks.
    peak_floor: float = 1.0
    # The ordinary-peak bar never exceeds this multiple of the median daily peak, so a bad month of
    # outages cannot blind the detector.
    peak_cap: float = 4.0
    # An incident stays open across quiet stretches up to this long (and the status shows it that long).
    hold: str = "30min"
    # Incidents closer than this are merged: a flapping outage is one incident, not several.
    merge_gap: str = "6h"
    # One author counts at most once per service in this long: twenty angry posts are one report.
    author_window: str = "1h"

    def __post_init__(self) -> None:
        rate = self.false_alarms_per_week
        if not (isinstance(rate, int | float) and 0 < rate <= MAX_RATE):
            raise BadInput(f"false alarms per week must be a number in (0, {MAX_RATE:g}], got {rate!r}")

    @property
    def sensitivity(self) -> str:
        """The setting's name in `SENSITIVITY`, else the rate itself ("1.5/week")."""
        return sensitivity_name(self.false_alarms_per_week)

    @property
    def peak_quantile(self) -> float:
        """Quantile of the trailing days' peaks (`history_days`) that ordinary days beat on r days in 7:
        a spike must beat it. At 0.5 a week, 0.93 of 28 days: the 3rd largest daily peak, so a service
        whose ordinary days already spike (news-driven chatter about a big brand) needs more than that,
        while one or two past outage days do not raise the bar."""
        return 1 - self.false_alarms_per_week / 7


@dataclass(frozen=True)
class Incident:
    """One detected incident; times are bin labels in UTC."""

    start: pd.Timestamp
    detected_at: pd.Timestamp
    peak: pd.Timestamp
    end: pd.Timestamp
    peak_count: int
    expected_at_peak: float
    level: Level
    escalated_at: pd.Timestamp | None = None
    # Share of the incident's reports carrying each type, of both kinds (see `miner.breakdown`).
    type_shares: dict[str, float] = field(default_factory=dict, hash=False)
    # The count series that raised an alarm in it, first to fire first: "reports" (the total) and types.
    series: tuple[str, ...] = (TOTAL,)
    # The sensitivity setting that found it (a `SENSITIVITY` name, or "N/week").
    sensitivity: str = "normal"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view with ISO timestamps."""
        iso = {k: None if v is None else v.isoformat() for k, v in self._times().items()}
        return {
            **iso,
            "peak_count": self.peak_count,
            "expected_at_peak": self.expected_at_peak,
            "level": self.level,
            "type_shares": dict(self.type_shares),
            **{f"{kind}_shares": shares for kind, shares in by_kind(self.type_shares).items()},
            "series": list(self.series),
            "sensitivity": self.sensitivity,
        }

    def _times(self) -> dict[str, pd.Timestamp | None]:
        return {
            "start": self.start,
            "detected_at": self.detected_at,
            "peak": self.peak,
            "end": self.end,
            "escalated_at": self.escalated_at,
        }


@dataclass(frozen=True)
class _Grid:
    """Counts laid on whole days of bins: row = day, column = slot; NaN = unknown."""

    values: np.ndarray  # (days, bins_per_day)
    index: pd.DatetimeIndex  # label of every cell, flattened
    first: int  # flat position of the first input bin
    last: int  # flat position of the last input bin

    @property
    def per_hour(self) -> int:
        return self.values.shape[1] // HOURS


def _nanquantile(a: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """Quantile along `axis` ignoring NaN (NaN where nothing is known), vectorised: numpy's nanquantile
    loops over rows in Python."""
    a = np.sort(np.moveaxis(a, axis, -1), axis=-1)  # NaN sorts last
    known = np.sum(~np.isnan(a), axis=-1)
    pos = q * np.maximum(known - 1, 0)
    lo = np.floor(pos).astype(int)[..., None]
    hi = np.minimum(lo + 1, np.maximum(known - 1, 0)[..., None])
    below, above = np.take_along_axis(a, lo, -1)[..., 0], np.take_along_axis(a, hi, -1)[..., 0]
    value = below + (above - below) * (pos - lo[..., 0])
    return np.where(known > 0, value, np.nan)


def _nanmedian(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median ignoring NaN (NaN where nothing is known)."""
    return _nanquantile(a, 0.5, axis)


def _make_grid(counts: pd.Series, freq: str) -> _Grid:
    """Check the index and lay the counts on whole days, so per-day statistics are matrix operations."""
    idx = counts.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise BadInput("counts need a tz-aware DatetimeIndex (UTC)")
    if len(idx) == 0 or not idx.is_monotonic_increasing or idx.has_duplicates:
        raise BadInput("counts need a non-empty, increasing index without duplicates")
    step = pd.Timedelta(freq)
    per_day = pd.Timedelta("1D") // step
    if per_day * step != pd.Timedelta("1D") or per_day % HOURS:
        raise BadInput(f"freq {freq} must divide an hour or be a whole hour")
    idx = idx.tz_convert("UTC")
    midnight = idx[0].floor("D")
    origin = midnight + (idx[0] - midnight) % step
    offsets = idx - origin
    if np.any(offsets % step != pd.Timedelta(0)):
        raise BadInput(f"counts are not on a regular {freq} grid")
    pos = np.asarray(offsets // step, dtype=np.int64)
    n_days = int(pos[-1] // per_day + 1)
    flat = np.full(n_days * per_day, np.nan)
    flat[pos] = counts.to_numpy(dtype=float)
    index = pd.date_range(origin, periods=flat.size, freq=step)
    return _Grid(flat.reshape(n_days, per_day), index, int(pos[0]), int(pos[-1]))


def _window_sum(a: np.ndarray, half_width: int) -> np.ndarray:
    """Sum over columns h-half_width .. h+half_width of the same row (no wrap into another day)."""
    padded = np.pad(a, ((0, 0), (half_width, half_width)))
    return sliding_window_view(padded, 2 * half_width + 1, axis=1).sum(axis=-1)


def _hourly_rates(grid: _Grid, half_width: int, min_share: float) -> np.ndarray:
    """Per day and hour, the mean rate per bin over hours h±half_width of that same day (NaN if unknown).

    Rates from sums rather than medians of bins: the median of a Poisson(0.4) bin is 0."""
    x = grid.values.reshape(len(grid.values), HOURS, grid.per_hour)
    sums = _window_sum(np.nansum(x, axis=2), half_width)
    known = _window_sum(np.sum(~np.isnan(x), axis=2).astype(float), half_width)
    full = _window_sum(np.full((1, HOURS), float(grid.per_hour)), half_width)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(known >= min_share * full, sums / known, np.nan)


def _trailing(a: np.ndarray, days: int) -> np.ndarray:
    """For each day d, the rows of days d-days .. d-1 (NaN before the start): shape (n, ..., days)."""
    pad = np.full((days, *a.shape[1:]), np.nan)
    return sliding_window_view(np.concatenate([pad, a]), days, axis=0)[: len(a)]


def _day_levels(rates: np.ndarray, min_share: float) -> np.ndarray:
    """A day's level: the median hourly rate, robust to a few incident hours; NaN if too little is known."""
    known = np.sum(~np.isnan(rates), axis=1)
    return np.where(known >= min_share * HOURS, _nanmedian(rates, axis=1), np.nan)


def _level_forecast(levels: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Each day's expected level: median of the same weekday over recent weeks, else of the last 7 days."""
    same = _trailing(levels, 7 * config.level_weeks)[:, ::7]
    enough = np.sum(~np.isnan(same), axis=1) >= config.min_same_weekday
    recent = _nanmedian(_trailing(levels, 7), axis=1)
    return np.where(enough, _nanmedian(same, axis=1), recent)


def _shape_forecast(rates: np.ndarray, levels: np.ndarray, days: int) -> np.ndarray:
    """Each day's time-of-day shape (hourly rate / day level), median over the trailing days; 1 if unknown."""
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = np.where(levels[:, None] > 0, rates / levels[:, None], np.nan)
    forecast = _nanmedian(_trailing(shape, days), axis=-1)
    return np.where(np.isnan(forecast), 1.0, forecast)


def _same_day_level(grid: _Grid, days: np.ndarray, min_hours: int, min_share: float) -> np.ndarray:
    """Cold start without any past day: per hour, the median rate of the hours already seen that day (for
    the rows `days` only, NaN elsewhere: normally just the first day)."""
    rates = _hourly_rates(grid, 0, min_share)
    out = np.full_like(rates, np.nan)
    seen = rates[days]
    # Running median over the hours before each hour: hour h sees columns 0..h-1 (later ones masked).
    before = np.where(np.tri(HOURS, HOURS, -1, dtype=bool)[None], seen[:, None, :], np.nan)
    enough = np.sum(~np.isnan(before), axis=2) >= min_hours
    out[days] = np.where(enough, _nanmedian(before, axis=2), np.nan)
    return out


def _to_bins(hourly: np.ndarray, per_day: int) -> np.ndarray:
    """Hourly values (at hour centres) of each day turned into per-bin values, linearly (flat before the
    first and after the last centre, like `np.interp`)."""
    position = np.clip((np.arange(per_day) + 0.5) * HOURS / per_day - 0.5, 0, HOURS - 1)
    lo = np.minimum(np.floor(position).astype(int), HOURS - 2)
    weight = position - lo
    return hourly[:, lo] * (1 - weight) + hourly[:, lo + 1] * weight


def _expected(grid: _Grid, config: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """Expected count per bin (NaN when nothing is known yet) and, per day, whether it is cold start."""
    rates = _hourly_rates(grid, config.smooth_hours, config.min_known_share)
    levels = _day_levels(rates, config.min_known_share)
    level = _level_forecast(levels, config)
    shape = _to_bins(_shape_forecast(rates, levels, config.history_days), grid.values.shape[1])
    fallback = _same_day_level(grid, np.isnan(level), config.min_history_hours, config.min_known_share)
    hourly = np.where(np.isnan(level)[:, None], fallback, level[:, None])
    mu = np.maximum(shape * np.repeat(hourly, grid.per_hour, axis=1), config.min_expected)
    known_days = np.sum(~np.isnan(_trailing(levels, config.history_days)), axis=1)
    return mu, known_days < config.cold_days


def _fit_dispersion(x: np.ndarray, mu: np.ndarray, min_share: float) -> np.ndarray:
    """Per day (row), the NB alpha whose standardised residuals have a normal's median |z| (0 when Poisson
    is enough). A median, not a variance, so the few bins of an incident do not inflate the noise.

    Closed form: |x - mu| / sqrt(mu + alpha mu^2) > c exactly when alpha < a_i = ((x - mu)^2 / c^2 - mu) /
    mu^2, so the median |z| equals c at alpha = median(a_i). Kept within [1e-4, 10] (from near-Poisson to
    wilder than any series seen)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = ((x - mu) ** 2 / NORMAL_MAD**2 - mu) / mu**2
    enough = np.sum(~np.isnan(a), axis=1) >= min_share * x.shape[1]
    root = _nanmedian(a, axis=1)
    alpha = np.where(root <= 0, 0.0, np.clip(root, 1e-4, 10.0))
    return np.where(enough, alpha, np.nan)


def _dispersion(x: np.ndarray, mu: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Each day's over-dispersion: median of the trailing days' fits, the cold default until enough exist."""
    fits = _trailing(_fit_dispersion(x, mu, config.min_known_share), config.history_days)
    enough = np.sum(~np.isnan(fits), axis=1) >= config.min_dispersion_days
    return np.where(enough, _nanmedian(fits, axis=1), config.cold_dispersion)


def _blocks(a: np.ndarray, width: int, min_share: float) -> np.ndarray:
    """Sums over consecutive blocks of `width` bins of each day (NaN when too little of it is known)."""
    if width == 1:
        return a
    b = a.reshape(len(a), -1, width)
    known = np.sum(~np.isnan(b), axis=2)
    return np.where(known >= min_share * width, np.nansum(b, axis=2) * width / np.maximum(known, 1), np.nan)


def _rolling(a: np.ndarray, width: int) -> np.ndarray:
    """Sum of the last `width` values at each position of the flattened array (fewer at the start)."""
    total = np.cumsum(a, axis=None)
    total[width:] -= total[:-width].copy()
    return total.reshape(a.shape)


def _trailing_sums(x: np.ndarray, mu: np.ndarray, width: int, min_share: float) -> tuple[np.ndarray, ...]:
    """Sums of counts and of expected counts over the last `width` bins (across midnight), on the bins
    known in both; NaN where too few are known. Same shape as `x`."""
    known = ~np.isnan(x) & ~np.isnan(mu)
    if width == 1:
        return np.where(known, x, np.nan), np.where(known, mu, np.nan)
    enough = _rolling(known.astype(float), width) >= min_share * width
    wx, wmu = _rolling(np.where(known, x, 0.0), width), _rolling(np.where(known, mu, 0.0), width)
    return np.where(enough, wx, np.nan), np.where(enough, wmu, np.nan)


def _upper_tail(x: np.ndarray, mu: np.ndarray, alpha: np.ndarray, where: np.ndarray) -> np.ndarray:
    """P(X >= x) under NB(mean mu, var mu + alpha mu^2), Poisson when alpha is 0, at the bins `where`
    says (1 elsewhere and where unknown): the special functions cost ~0.4 us a bin, so only bins that
    could be hot pay for them."""
    p = np.ones_like(mu)
    test = where & (x > 0)  # P(X >= 0) = 1 whatever the law; NaN compares False
    pois, nb = test & (alpha == 0), test & (alpha > 0)
    p[pois] = special.gammainc(x[pois], mu[pois])  # Poisson sf(x - 1)
    size = 1 / alpha[nb]
    p[nb] = special.betainc(x[nb], size, mu[nb] / (size + mu[nb]))  # NB sf(x - 1)
    return p


def _quantile(q: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Count quantile of the same NB/Poisson law, for drawing the band."""
    size = 1 / np.maximum(alpha, 1e-12)
    nb = np.ceil(special.nbdtrik(q, size, size / (size + mu)))
    pois = np.ceil(special.pdtrik(q, mu))
    return np.maximum(np.where(alpha > 0, nb, pois), 0)


def _peak_bar(ratio: np.ndarray, could: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Per day, the ratio count/expected that ordinary days of this service already reach: the quantile
    1 - r/7 of the trailing days' largest ratio among counts that `could` alarm, so that ordinary days
    beat it on about r days a week (r = `false_alarms_per_week`); 0 when no past day had such a count."""
    daily = np.max(np.where(could, ratio, 0.0), axis=1)
    past = _trailing(daily, config.history_days)
    bar = np.minimum(_nanquantile(past, config.peak_quantile), config.peak_cap * _nanmedian(past))
    return np.where(np.isnan(bar), 0.0, bar)


@dataclass(frozen=True)
class _Test:
    """One scale's test per bin (arrays of days x bins): tail probability, the per-day dispersion and
    ratio bar, and the hot/severe verdicts."""

    p: np.ndarray
    alpha: np.ndarray
    bar: np.ndarray
    hot: np.ndarray
    severe: np.ndarray


def _scale_test(
    x: np.ndarray, mu: np.ndarray, threshold: np.ndarray, width: int, config: DetectConfig, every_p: bool
) -> _Test:
    """Test the trailing sum of `width` bins against its expected sum (width 1 = the bin itself); the
    tail probability of every bin only with `every_p` (the dashboard's band), else where it matters."""
    share = config.min_known_share
    alpha = _dispersion(_blocks(x, width, share), _blocks(mu, width, share), config)[:, None]
    wx, wmu = _trailing_sums(x, mu, width, share)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = wx / wmu
        could = wx - wmu >= config.min_excess  # NaN compares False
        bar = np.maximum(config.min_ratio, _peak_bar(ratio, wx - wmu >= config.peak_floor, config))[:, None]
        rising = (x >= 1) & (x >= bar * mu)  # the rise is still going on now
        big = rising & could & (ratio >= bar)
        # The bin test's p also keeps incidents open (`p_warm`): no NB or Poisson law gives a count within
        # two standard deviations above its mean a tail under 1 %, so only counts beyond need it.
        beyond = (width == 1) & could & (wx > wmu + 2 * np.sqrt(wmu + alpha * wmu**2))
        p = _upper_tail(wx, wmu, np.broadcast_to(alpha, x.shape), big | beyond | every_p)
        hot = big & (p < threshold)
        severe = hot & (p < config.p_outage) & (ratio >= config.outage_ratio)
    return _Test(p, alpha[:, 0], bar[:, 0], hot, severe)


def _window_widths(config: DetectConfig, per_day: int) -> list[int]:
    """Window lengths in bins; a window no longer than one bin adds nothing to the bin test: skipped."""
    step, widths = pd.Timedelta(config.freq), []
    for window in config.windows:
        width = pd.Timedelta(window) // step
        if width <= 1:
            continue
        if width * step != pd.Timedelta(window) or per_day % width:
            raise BadInput(f"window {window} must be a whole number of {config.freq} bins dividing a day")
        widths.append(width)
    return widths


def _p_alarm(config: DetectConfig, per_day: int, scales: int) -> float:
    """Tail probability under which a bin or window is hot: `model_share` of the week's false-alarm
    budget spread over the week's tests (bins x scales). 5-minute bins, three scales, 0.5 a week:
    ~8e-9, so chance hits of the noise model stay negligible and real spikes reach far below."""
    return config.model_share * config.false_alarms_per_week / (7 * per_day * scales)


@dataclass(frozen=True)
class _Scores:
    """Per bin from the first to the last input bin: the count, expected level and the bin test, and
    whether a window test fires (numpy arrays, aligned on `index`)."""

    index: pd.DatetimeIndex
    count: np.ndarray
    expected: np.ndarray
    alpha: np.ndarray
    bar: np.ndarray
    threshold: np.ndarray
    p_value: np.ndarray
    hot: np.ndarray
    severe: np.ndarray
    window_hot: np.ndarray
    window_severe: np.ndarray


def _score(counts: pd.Series, config: DetectConfig, every_p: bool = False) -> _Scores:
    """Expected level and the tests of every scale, on the regular grid of `counts`."""
    grid = _make_grid(counts, config.freq)
    mu, cold = _expected(grid, config)
    x, per_day = grid.values, grid.values.shape[1]
    widths = _window_widths(config, per_day)
    p_alarm = _p_alarm(config, per_day, 1 + len(widths))
    threshold = np.where(cold, p_alarm * config.cold_p_factor, p_alarm)[:, None]
    single = _scale_test(x, mu, threshold, 1, config, every_p)
    windows = [_scale_test(x, mu, threshold, width, config, False) for width in widths]
    none = np.zeros(x.shape, bool)
    rows = slice(grid.first, grid.last + 1)

    def flat(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, x.shape).ravel()[rows]

    return _Scores(
        index=grid.index[rows],
        count=flat(x),
        expected=flat(mu),
        alpha=flat(single.alpha[:, None]),
        bar=flat(single.bar[:, None]),
        threshold=flat(threshold),
        p_value=flat(single.p),
        hot=flat(single.hot),
        severe=flat(single.severe),
        window_hot=flat(np.logical_or.reduce([w.hot for w in windows] + [none])),
        window_severe=flat(np.logical_or.reduce([w.severe for w in windows] + [none])),
    )


def baseline(
    counts: pd.Series, config: DetectConfig = DetectConfig(), start: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Per bin: count, expected level and the band outside which a count is surprising, for the dashboard.

    `upper` is the smallest count that makes a bin hot (it honours `min_excess` and the ratio bar too);
    `lower` is the mirror quantile. Rows exist for every bin between the first and last input bin, or from
    `start` on: the bins before it still teach the expected level, but their band, whose quantiles are
    the costly part (~8 us a bin), is not computed."""
    s = _score(counts, config, every_p=True)
    shown = slice(0 if start is None else int(s.index.searchsorted(start)), None)
    mu, q, alpha, bar = s.expected[shown], s.threshold[shown], s.alpha[shown], s.bar[shown]
    upper = np.maximum.reduce(
        [_quantile(1 - q, mu, alpha) + 1, np.ceil(mu + config.min_excess), np.ceil(bar * mu)]
    )
    band = {"lower": _quantile(q, mu, alpha), "upper": np.where(np.isnan(mu), np.nan, upper)}
    columns = {"count": s.count[shown], "expected": mu, **band, "p_value": s.p_value[shown]}
    return pd.DataFrame(columns, index=s.index[shown])


def _persistent(flags: np.ndarray, k: int, m: int) -> np.ndarray:
    """True at t when at least k of the m bins ending at t are flagged (causal)."""
    return _rolling(flags.astype(np.int64), m) >= k


@dataclass(frozen=True)
class _Run:
    """One series' incident, as positions on the shared grid."""

    series: str
    first: int
    last: int
    detected: int
    escalated: int | None


def _runs(elevated: np.ndarray, hold: int) -> list[tuple[int, int]]:
    """(first, last) positions of runs of elevated bins, runs at most `hold` bins apart joined."""
    pos = np.flatnonzero(elevated)
    if pos.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(pos) > hold)
    starts, ends = np.r_[pos[0], pos[breaks + 1]], np.r_[pos[breaks], pos[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _merge(runs: list[_Run], gap: int) -> list[list[_Run]]:
    """Runs grouped into incidents: overlapping ones or ones at most `gap` bins apart are one incident (a
    flapping outage, or the same outage seen in several series)."""
    groups: list[list[_Run]] = []
    end = 0
    for run in sorted(runs, key=lambda r: r.first):
        if groups and run.first - end <= gap:
            groups[-1].append(run)
            end = max(end, run.last)
        else:
            groups.append([run])
            end = run.last
    return groups


def _series_runs(s: _Scores, name: str, config: DetectConfig) -> list[_Run]:
    """The incidents of one count series: runs of elevated bins that raised an alarm, merged."""
    k, m = config.persist_k, config.persist_m
    alarm = _persistent(s.hot, k, m) | s.window_hot
    if not alarm.any():
        return []
    outage = _persistent(s.severe, k, m) | s.window_severe
    with np.errstate(invalid="ignore"):
        elevated = (s.count >= s.expected + config.min_excess) & (s.p_value < config.p_warm) | alarm
    hold, gap = (int(pd.Timedelta(t) // pd.Timedelta(config.freq)) for t in (config.hold, config.merge_gap))
    runs = []
    for first, last in _runs(elevated, hold):
        alarms = np.flatnonzero(alarm[first : last + 1])
        if alarms.size:
            severe = np.flatnonzero(outage[first : last + 1])
            escalated = first + int(severe[0]) if severe.size else None
            runs.append(_Run(name, first, last, first + int(alarms[0]), escalated))
    return [_span(group) for group in _merge(runs, gap)]


def _span(group: list[_Run]) -> _Run:
    """One run covering a group, with its first alarm and first escalation."""
    escalations = [r.escalated for r in group if r.escalated is not None]
    return _Run(
        group[0].series,
        min(r.first for r in group),
        max(r.last for r in group),
        min(r.detected for r in group),
        min(escalations) if escalations else None,
    )


def _type_shares(
    type_counts: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp, reports: float
) -> dict[str, float]:
    """Share of the incident's reports that carry each outage type (see `miner.breakdown`)."""
    if type_counts is None:
        return {}
    return report_shares(type_counts.loc[start:end].sum().to_dict(), reports)


def _incident(
    s: _Scores, group: list[_Run], type_counts: pd.DataFrame | None, config: DetectConfig
) -> Incident:
    """The incident of a group of runs, described on the total series `s` (peak, expected at peak)."""
    run = _span(group)
    counts = s.count[run.first : run.last + 1]
    peak = run.first + int(np.nanargmax(counts)) if not np.isnan(counts).all() else run.first
    firing = sorted(group, key=lambda r: (r.detected, r.series != TOTAL))
    return Incident(
        start=s.index[run.first],
        detected_at=s.index[run.detected],
        peak=s.index[peak],
        end=s.index[run.last],
        peak_count=int(np.nan_to_num(s.count[peak])),
        expected_at_peak=round(float(s.expected[peak]), 3),
        level="possible" if run.escalated is None else "outage",
        escalated_at=None if run.escalated is None else s.index[run.escalated],
        type_shares=_type_shares(type_counts, s.index[run.first], s.index[run.last], np.nansum(counts)),
        series=tuple(dict.fromkeys(r.series for r in firing)),
        sensitivity=config.sensitivity,
    )


def _could_alarm(counts: pd.Series, config: DetectConfig) -> bool:
    """Whether any bin or window of the series holds `min_excess` reports: a hot test needs that many
    more than expected, and the widest window holds the most (a rare type's series is skipped)."""
    widest = max(pd.Timedelta(t) for t in (config.freq, *config.windows))
    return bool(counts.fillna(0).rolling(widest).sum().max() >= config.min_excess)


def detect(
    counts: pd.Series, config: DetectConfig = DetectConfig(), type_counts: pd.DataFrame | None = None
) -> list[Incident]:
    """Incidents in a count series (tz-aware index on a regular `config.freq` grid; missing bin = unknown).

    `type_counts` (optional) holds per-type report counts on the same bins, one column per type: each
    type's series is tested too, so "DMs fail" shows up even when the total barely moves, and the types
    fill `type_shares`. An incident lists the series that raised an alarm in it (`series`, "reports" for
    the total). Causal: an incident's `detected_at` is the same when run on any prefix that contains it."""
    s = _score(counts, config)
    runs = _series_runs(s, TOTAL, config)
    for name in [] if type_counts is None else type_counts.columns:
        typed = type_counts[name].reindex(counts.index)
        if _could_alarm(typed, config):
            runs += _series_runs(_score(typed, config), str(name), config)
    gap = int(pd.Timedelta(config.merge_gap) // pd.Timedelta(config.freq))
    return [_incident(s, group, type_counts, config) for group in _merge(runs, gap)]


def status(incidents: Sequence[Incident], now: pd.Timestamp, config: DetectConfig = DetectConfig()) -> str:
    """Downdetector's three states at `now`: "outage", "possible" or "ok".

    An incident shows from its detection until `hold` after its last elevated bin (it could still
    extend until then); it shows "outage" only from the moment it escalated."""
    shown = [i for i in incidents if i.detected_at <= now <= i.end + pd.Timedelta(config.hold)]
    if any(i.escalated_at is not None and i.escalated_at <= now for i in shown):
        return "outage"
    return "possible" if shown else "ok"


POST_COLUMNS = ("created_at", "author", "service", "is_outage", "types")


def _keep_first_per_window(
    authors: Sequence[str], stamps: Sequence[int], window: int, last: dict[str, int], excluded: set[str]
) -> np.ndarray:
    """Keep-mask over one service's posts in time order: a post counts unless its author is excluded or
    had a counted post less than `window` before (greedy, so no window of that length ever holds two of an
    author's counted posts). `last` holds each author's last counted time and is updated, so the posts
    may come in chunks."""
    keep = np.zeros(len(stamps), bool)
    for i, (author, t) in enumerate(zip(authors, stamps, strict=True)):
        if author not in excluded and t - last.get(author, t - window) >= window:
            keep[i], last[author] = True, t
    return keep


class ReportCounter:
    """One service's outage reports per bin of `grid` (on `config.freq`), in total ("reports") and per type
    (one column for every type of TYPES), fed its reports in time order, in chunks of any size:
    `miner.incidents` streams a store's reports through it. It holds the bins and the authors of the last
    `author_window`, not the reports, so memory stays flat however many there are. Official accounts
    (`excluded_authors`) are left out, and an author counts at most once per `author_window`."""

    def __init__(
        self,
        grid: pd.DatetimeIndex,
        config: DetectConfig = DetectConfig(),
        excluded_authors: Iterable[str] = (),
    ) -> None:
        self.grid = grid
        self._origin = grid[0].value if len(grid) else 0
        self._step = pd.Timedelta(config.freq).value
        self._window = pd.Timedelta(config.author_window).value
        self._excluded = set(excluded_authors)
        self._last: dict[str, int] = {}
        self._counts = np.zeros((len(grid), 1 + len(TYPES)), np.int64)

    def add(self, stamps: pd.DatetimeIndex, authors: Sequence[str], flags: np.ndarray) -> None:
        """Reports in time order, after those already added: their times, authors and the reports x TYPES
        flags of the types each names."""
        ns = stamps.as_unit("ns").asi8
        keep = _keep_first_per_window(authors, ns.tolist(), self._window, self._last, self._excluded)
        rows = (ns[keep] - self._origin) // self._step
        np.add.at(self._counts, (rows, 0), 1)
        np.add.at(self._counts[:, 1:], rows, np.asarray(flags, bool)[keep].astype(np.int64))
        if len(ns):  # authors silent for a whole window can count again anyway: forget them
            recent = ns[-1] - self._window
            self._last = {a: t for a, t in self._last.items() if t > recent}

    def counts(self) -> pd.DataFrame:
        """The counts so far: index = the grid's bins, columns "reports" and every type."""
        return pd.DataFrame(self._counts, index=self.grid.rename("bin"), columns=[TOTAL, *TYPES])


def count_reports(
    posts: pd.DataFrame,
    freq: str | None = None,
    excluded_authors: Iterable[str] = (),
    config: DetectConfig = DetectConfig(),
) -> pd.DataFrame:
    """Outage reports per service and bin, in total ("reports") and per type (a column for each type some
    counted report names, alphabetically), through `ReportCounter`.

    `posts`: classified posts with columns created_at (tz-aware), author, service, is_outage, types
    (list of str). A report counts in every type it names. Rows cover every bin from the first to the
    last post of any kind, for every service, with explicit zeros: the collector was running then."""
    missing = [c for c in POST_COLUMNS if c not in posts.columns]
    if missing:
        raise BadInput(f"posts lack columns {missing}")
    freq = freq or config.freq
    if posts.empty:
        index = pd.MultiIndex.from_arrays([[], pd.DatetimeIndex([], tz="UTC")], names=["service", "bin"])
        return pd.DataFrame({"reports": pd.Series(dtype=int)}, index=index)
    stamps = posts["created_at"].dt.tz_convert("UTC")
    grid = pd.date_range(stamps.min().floor(freq), stamps.max().floor(freq), freq=freq)
    reports = posts[posts["is_outage"].astype(bool)].assign(created_at=stamps)
    reports = reports.sort_values("created_at", kind="stable")
    per_service = {}
    for service in sorted(posts["service"].unique()):
        counter = ReportCounter(grid, replace(config, freq=freq), excluded_authors)
        mine = reports[reports["service"] == service]
        flags = np.array([[t in types for t in TYPES] for types in mine["types"]], bool)
        counter.add(
            pd.DatetimeIndex(mine["created_at"]), mine["author"].tolist(), flags.reshape(-1, len(TYPES))
        )
        per_service[service] = counter.counts()
    frame = pd.concat(per_service, names=["service", "bin"])
    named = sorted(t for t in TYPES if frame[t].any())
    return frame[[TOTAL, *named]]
