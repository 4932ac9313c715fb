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

A bin is hot when its upper-tail probability is below `p_alarm`, its count reaches `min_count`, and it
is a multiple of the expected level (at least `min_ratio`, and at least the service's ordinary peaks,
see `peak_quantile`). An alarm is `persist_k` hot bins among the last `persist_m`, or a hot trailing
window (`windows`: a burst too short for persistence, or a rise too mild per bin but sustained). Runs of
elevated bins that raised an alarm are incidents; incidents closer than `merge_gap` are merged.
Unknown bins (gaps) are never hot and never learnt from.

Timestamps are bin labels (the start of the bin); a bin's count is complete at label + freq.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special  # not scipy.stats: its import alone costs ~0.9 s per dashboard start

from miner.breakdown import by_kind, report_shares
from miner.errors import BadInput

Level = Literal["possible", "outage"]
HOURS = 24
NORMAL_MAD = 0.6745  # median |z| of a standard normal: the target of the dispersion fit


@dataclass(frozen=True)
class DetectConfig:
    """Every tuning constant of the detector, with why it has its value (tuned on NAB realTweets)."""

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
    # Tail probability under which a bin or window is hot. A year of 5-minute bins is ~1e5 tests per
    # scale; 1e-8 leaves chance hits negligible, real spikes reach 1e-10 and far below.
    p_alarm: float = 1e-8
    # Looser probability that keeps an incident open once raised (hysteresis), so it is not cut in two.
    p_warm: float = 1e-3
    # Much stricter probability for the "outage" level (Downdetector's red state).
    p_outage: float = 1e-12
    # A hot bin needs at least this many reports: 0 -> 3 reports in five minutes is noise, not an outage.
    min_count: int = 5
    # ... and this multiple of the expected level: at high volume a +30 % wobble is significant but is
    # not what users call an outage.
    min_ratio: float = 3.0
    # The "outage" level also needs this multiple of the expected level.
    outage_ratio: float = 4.0
    # Persistence: k hot bins among the last m. 2 of 4 confirms within 5-15 minutes and tolerates dips.
    persist_k: int = 2
    persist_m: int = 4
    # Trailing windows also tested as a whole: 30 min catches a one-bin burst of reports, 3 h a rise too
    # mild per bin but sustained.
    windows: tuple[str, ...] = ("30min", "3h")
    # A hot window needs at least this many reports and this multiple of its expected count.
    window_min_count: int = 10
    window_min_ratio: float = 2.0
    # Ordinary peaks: a spike must also beat this quantile of the trailing days' largest ratio
    # count/expected (among counts that could alarm). 0.9 of 28 days is the 3rd largest daily peak: a
    # service whose ordinary days already spike (news-driven chatter about a big brand) needs more
    # than that, while one or two past outage days do not raise the bar.
    peak_quantile: float = 0.9
    # The ordinary-peak bar never exceeds this multiple of the median daily peak, so a bad month of
    # outages cannot blind the detector.
    peak_cap: float = 4.0
    # An incident stays open across quiet stretches up to this long (and the status shows it that long).
    hold: str = "30min"
    # Incidents closer than this are merged: a flapping outage is one incident, not several.
    merge_gap: str = "6h"
    # One author counts at most once per service in this long: twenty angry posts are one report.
    author_window: str = "1h"


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


def _same_day_level(grid: _Grid, min_hours: int, min_share: float) -> np.ndarray:
    """Cold start without any past day: per hour, the median rate of the hours already seen that day."""
    rates = _hourly_rates(grid, 0, min_share)
    out = np.full_like(rates, np.nan)
    for hour in range(min_hours, HOURS):
        seen = rates[:, :hour]
        enough = np.sum(~np.isnan(seen), axis=1) >= min_hours
        out[:, hour] = np.where(enough, _nanmedian(seen, axis=1), np.nan)
    return out


def _interpolation(per_day: int) -> np.ndarray:
    """Matrix (per_day, 24) turning hourly values at hour centres into per-bin values, linearly."""
    centres = np.arange(HOURS) + 0.5
    slots = (np.arange(per_day) + 0.5) * HOURS / per_day
    return np.stack([np.interp(slots, centres, unit) for unit in np.eye(HOURS)], axis=1)


def _expected(grid: _Grid, config: DetectConfig) -> tuple[np.ndarray, np.ndarray]:
    """Expected count per bin (NaN when nothing is known yet) and, per day, whether it is cold start."""
    rates = _hourly_rates(grid, config.smooth_hours, config.min_known_share)
    levels = _day_levels(rates, config.min_known_share)
    level = _level_forecast(levels, config)
    shape = _shape_forecast(rates, levels, config.history_days) @ _interpolation(grid.values.shape[1]).T
    fallback = _same_day_level(grid, config.min_history_hours, config.min_known_share)
    hourly = np.where(np.isnan(level)[:, None], fallback, level[:, None])
    mu = np.maximum(shape * np.repeat(hourly, grid.per_hour, axis=1), config.min_expected)
    known_days = np.sum(~np.isnan(_trailing(levels, config.history_days)), axis=1)
    return mu, known_days < config.cold_days


def _fit_dispersion(x: np.ndarray, mu: np.ndarray, min_share: float) -> np.ndarray:
    """Per day (row), the NB alpha whose standardised residuals have a normal's median |z| (0 when Poisson
    is enough). A median, not a variance, so the few bins of an incident do not inflate the noise."""
    dev = np.abs(x - mu)
    enough = np.sum(~np.isnan(dev), axis=1) >= min_share * x.shape[1]

    def spread(alpha: np.ndarray) -> np.ndarray:
        return _nanmedian(dev / np.sqrt(mu + alpha[:, None] * mu**2), axis=1)

    # Bisection on log(alpha) over [1e-4, 10] (from near-Poisson to wilder than any series seen);
    # 20 halvings leave a relative error of ~1e-5.
    lo, hi = np.full(len(x), np.log(1e-4)), np.full(len(x), np.log(10.0))
    for _ in range(20):
        mid = (lo + hi) / 2
        too_wide = spread(np.exp(mid)) > NORMAL_MAD
        lo, hi = np.where(too_wide, mid, lo), np.where(too_wide, hi, mid)
    alpha = np.where(spread(np.zeros(len(x))) <= NORMAL_MAD, 0.0, np.exp(hi))
    return np.where(enough, alpha, np.nan)


def _dispersion(x: np.ndarray, mu: np.ndarray, config: DetectConfig) -> np.ndarray:
    """Each day's over-dispersion: median of the trailing days' fits, the cold default until enough exist."""
    fits = _trailing(_fit_dispersion(x, mu, config.min_known_share), config.history_days)
    enough = np.sum(~np.isnan(fits), axis=1) >= config.min_dispersion_days
    return np.where(enough, _nanmedian(fits, axis=1), config.cold_dispersion)


def _blocks(a: np.ndarray, width: int, min_share: float) -> np.ndarray:
    """Sums over consecutive blocks of `width` bins of each day (NaN when too little of it is known)."""
    b = a.reshape(len(a), -1, width)
    known = np.sum(~np.isnan(b), axis=2)
    return np.where(known >= min_share * width, np.nansum(b, axis=2) * width / np.maximum(known, 1), np.nan)


def _trailing_sums(x: np.ndarray, mu: np.ndarray, width: int, min_share: float) -> tuple[np.ndarray, ...]:
    """Sums of counts and of expected counts over the last `width` bins, on the bins known in both."""
    known = ~np.isnan(x) & ~np.isnan(mu)

    def rolling(a: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0.0], np.cumsum(np.where(known, a, 0.0))])
        return total[1:] - total[np.maximum(np.arange(1, total.size) - width, 0)]

    enough = rolling(np.ones_like(x)) >= min_share * width
    return np.where(enough, rolling(x), np.nan), np.where(enough, rolling(mu), np.nan)


def _upper_tail(x: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """P(X >= x) under NB(mean mu, var mu + alpha mu^2), Poisson when alpha is 0; 1 where unknown."""
    p = np.ones_like(mu)
    known = ~np.isnan(x) & ~np.isnan(mu)
    pois, nb = known & (alpha == 0), known & (alpha > 0)
    at_least = np.maximum(x, 1)  # P(X >= 0) = 1 whatever the law
    p[pois] = special.gammainc(at_least[pois], mu[pois])  # Poisson sf(x - 1)
    size = 1 / alpha[nb]
    p[nb] = special.betainc(at_least[nb], size, mu[nb] / (size + mu[nb]))  # NB sf(x - 1)
    p[known & (x <= 0)] = 1.0
    return p


def _quantile(q: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Count quantile of the same NB/Poisson law, for drawing the band."""
    size = 1 / np.maximum(alpha, 1e-12)
    nb = np.ceil(special.nbdtrik(q, size, size / (size + mu)))
    pois = np.ceil(special.pdtrik(q, mu))
    return np.maximum(np.where(alpha > 0, nb, pois), 0)


def _peak_bar(x: np.ndarray, mu: np.ndarray, floor: float, config: DetectConfig) -> np.ndarray:
    """Per day, the ratio count/expected that ordinary days of this service already reach (see
    `peak_quantile`); only counts of at least `floor` can make a day's peak, 0 if none did."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an entirely unknown day has no peak
        ratio = np.where(x >= floor, x / mu, 0.0)
        daily = np.nanmax(np.where(np.isnan(x) | np.isnan(mu), np.nan, ratio), axis=1)
    past = _trailing(daily, config.history_days)
    bar = np.minimum(_nanquantile(past, config.peak_quantile), config.peak_cap * _nanmedian(past))
    return np.where(np.isnan(bar), 0.0, bar)


@dataclass(frozen=True)
class _Test:
    """One scale's test per bin (flat arrays): tail probability, ratio bar, and the hot/severe verdicts."""

    p: np.ndarray
    alpha: np.ndarray
    bar: np.ndarray
    hot: np.ndarray
    severe: np.ndarray


def _scale_test(
    x: np.ndarray, mu: np.ndarray, threshold: np.ndarray, width: int, config: DetectConfig
) -> _Test:
    """Test the trailing sum of `width` bins against its expected sum (width 1 = the bin itself)."""
    share, per_day = config.min_known_share, x.shape[1]
    floor, min_ratio = (
        (config.min_count, config.min_ratio)
        if width == 1
        else (config.window_min_count, config.window_min_ratio)
    )
    alpha = np.repeat(_dispersion(_blocks(x, width, share), _blocks(mu, width, share), config), per_day)
    wx, wmu = _trailing_sums(x.ravel(), mu.ravel(), width, share)
    bar = np.repeat(_peak_bar(wx.reshape(x.shape), wmu.reshape(x.shape), floor, config), per_day)
    p, ratio = _upper_tail(wx, wmu, alpha), np.maximum(min_ratio, bar)
    with np.errstate(invalid="ignore"):
        rising = (x.ravel() >= 1) & (x.ravel() >= ratio * mu.ravel())  # the rise is still going on now
        hot = rising & (wx >= floor) & (wx >= ratio * wmu) & (p < threshold)
        severe = hot & (p < config.p_outage) & (wx >= config.outage_ratio * wmu)
    return _Test(p, alpha, bar, hot, severe)


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


def _score(counts: pd.Series, config: DetectConfig) -> pd.DataFrame:
    """Per bin of the regular grid: count, expected, the bin's test, and whether a window test fires."""
    grid = _make_grid(counts, config.freq)
    mu, cold = _expected(grid, config)
    x, per_day = grid.values, grid.values.shape[1]
    threshold = np.repeat(np.where(cold, config.p_alarm * config.cold_p_factor, config.p_alarm), per_day)
    single = _scale_test(x, mu, threshold, 1, config)
    windows = [_scale_test(x, mu, threshold, width, config) for width in _window_widths(config, per_day)]
    frame = pd.DataFrame(
        {
            "count": x.ravel(),
            "expected": mu.ravel(),
            "alpha": single.alpha,
            "bar": single.bar,
            "threshold": threshold,
            "p_value": single.p,
            "hot": single.hot,
            "severe": single.severe,
            "window_hot": np.logical_or.reduce([w.hot for w in windows] + [np.zeros(x.size, bool)]),
            "window_severe": np.logical_or.reduce([w.severe for w in windows] + [np.zeros(x.size, bool)]),
        },
        index=grid.index,
    )
    return frame.iloc[grid.first : grid.last + 1]


def baseline(counts: pd.Series, config: DetectConfig = DetectConfig()) -> pd.DataFrame:
    """Per bin: count, expected level and the band outside which a count is surprising, for the dashboard.

    `upper` is the smallest count that makes a bin hot (it honours `min_count` and the ratio bars too);
    `lower` is the mirror quantile. Rows exist for every bin between the first and last input bin."""
    s = _score(counts, config)
    mu, alpha, q = s["expected"].to_numpy(), s["alpha"].to_numpy(), s["threshold"].to_numpy()
    ratio = np.maximum(config.min_ratio, s["bar"].to_numpy())
    upper = np.maximum.reduce(
        [_quantile(1 - q, mu, alpha) + 1, np.full_like(mu, config.min_count), np.ceil(ratio * mu)]
    )
    band = {"lower": _quantile(q, mu, alpha), "upper": np.where(np.isnan(mu), np.nan, upper)}
    return s[["count", "expected"]].assign(**band, p_value=s["p_value"])


def _persistent(flags: np.ndarray, k: int, m: int) -> np.ndarray:
    """True at t when at least k of the m bins ending at t are flagged (causal)."""
    total = np.concatenate([[0], np.cumsum(flags)])
    return total[1:] - total[np.maximum(np.arange(1, len(total)) - m, 0)] >= k


def _flags(s: pd.DataFrame, config: DetectConfig) -> pd.DataFrame:
    """Per bin: elevated (keeps an incident open), alarm and outage alarm."""
    x, p = s["count"].to_numpy(), s["p_value"].to_numpy()
    k, m = config.persist_k, config.persist_m
    alarm = _persistent(s["hot"].to_numpy(), k, m) | s["window_hot"].to_numpy()
    outage = _persistent(s["severe"].to_numpy(), k, m) | s["window_severe"].to_numpy()
    with np.errstate(invalid="ignore"):
        elevated = (x >= config.min_count) & (p < config.p_warm)
    return pd.DataFrame({"elevated": elevated | alarm, "alarm": alarm, "outage": outage}, index=s.index)


def _runs(elevated: np.ndarray, hold: int) -> list[tuple[int, int]]:
    """(first, last) positions of runs of elevated bins, runs at most `hold` bins apart joined."""
    pos = np.flatnonzero(elevated)
    if pos.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(pos) > hold)
    starts, ends = np.r_[pos[0], pos[breaks + 1]], np.r_[pos[breaks], pos[-1]]
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _spans(flags: pd.DataFrame, hold: int, gap: int) -> list[tuple[int, int]]:
    """(first, last) positions of incidents: runs that raised an alarm, those at most `gap` bins apart
    merged (a flapping outage is one incident, not several)."""
    alarm = flags["alarm"].to_numpy()
    merged: list[tuple[int, int]] = []
    for first, last in _runs(flags["elevated"].to_numpy(), hold):
        if not alarm[first : last + 1].any():
            continue
        if merged and first - merged[-1][1] <= gap:
            first = merged.pop()[0]
        merged.append((first, last))
    return merged


def _type_shares(type_counts: pd.DataFrame | None, rows: pd.DataFrame) -> dict[str, float]:
    """Share of the incident's reports that carry each outage type (see `miner.breakdown`)."""
    if type_counts is None:
        return {}
    sums = type_counts.loc[rows.index[0] : rows.index[-1]].sum()
    return report_shares(sums.to_dict(), float(np.nansum(rows["count"].to_numpy(float))))


def _incident(
    s: pd.DataFrame, f: pd.DataFrame, span: tuple[int, int], type_counts: pd.DataFrame | None
) -> Incident:
    """The incident spanning positions `span` (which holds at least one alarm)."""
    rows, flags = s.iloc[span[0] : span[1] + 1], f.iloc[span[0] : span[1] + 1]
    peak = rows["count"].idxmax()
    escalated = flags.index[flags["outage"].to_numpy()]
    escalated_at = escalated[0] if len(escalated) else None
    return Incident(
        start=rows.index[0],
        detected_at=flags.index[flags["alarm"].to_numpy()][0],
        peak=peak,
        end=rows.index[-1],
        peak_count=int(rows.at[peak, "count"]),
        expected_at_peak=round(float(rows.at[peak, "expected"]), 3),
        level="possible" if escalated_at is None else "outage",
        escalated_at=escalated_at,
        type_shares=_type_shares(type_counts, rows),
    )


def detect(
    counts: pd.Series, config: DetectConfig = DetectConfig(), type_counts: pd.DataFrame | None = None
) -> list[Incident]:
    """Incidents in a count series (tz-aware index on a regular `config.freq` grid; missing bin = unknown).

    `type_counts` (optional) holds per-type report counts on the same bins; it only fills `type_shares`.
    Causal: an incident's `detected_at` is the same when run on any prefix that contains it."""
    s = _score(counts, config)
    f = _flags(s, config)
    hold, gap = (int(pd.Timedelta(t) // pd.Timedelta(config.freq)) for t in (config.hold, config.merge_gap))
    return [_incident(s, f, span, type_counts) for span in _spans(f, hold, gap)]


def status(incidents: Sequence[Incident], now: pd.Timestamp, config: DetectConfig = DetectConfig()) -> str:
    """Downdetector's three states at `now`: "outage", "possible" or "ok".

    An incident shows from its detection until `hold` after its last elevated bin (it could still
    extend until then); it shows "outage" only from the moment it escalated."""
    shown = [i for i in incidents if i.detected_at <= now <= i.end + pd.Timedelta(config.hold)]
    if any(i.escalated_at is not None and i.escalated_at <= now for i in shown):
        return "outage"
    return "possible" if shown else "ok"


POST_COLUMNS = ("created_at", "author", "service", "is_outage", "types")


def _first_per_window(group: np.ndarray, stamp: np.ndarray, window: int) -> np.ndarray:
    """Keep-mask over posts sorted by (group, time): a post counts unless its group had a counted post
    less than `window` before (greedy, so no window of that length ever holds two counted posts)."""
    keep = np.zeros(len(stamp), bool)
    last_group, last_kept = None, 0
    for i, (g, t) in enumerate(zip(group.tolist(), stamp.tolist(), strict=True)):
        if g != last_group or t - last_kept >= window:
            keep[i], last_group, last_kept = True, g, t
    return keep


def _reports(posts: pd.DataFrame, excluded_authors: Iterable[str], window: pd.Timedelta) -> pd.DataFrame:
    """Outage posts that count as reports: official accounts out, one per author and service per window."""
    outage = posts[posts["is_outage"].astype(bool) & ~posts["author"].isin(set(excluded_authors))]
    outage = outage.sort_values(["service", "author", "created_at"], kind="stable")
    pair = outage.groupby(["service", "author"], sort=False).ngroup().to_numpy()
    stamp = pd.DatetimeIndex(outage["created_at"]).as_unit("ns").asi8
    return outage[_first_per_window(pair, stamp, window.value)]


def count_reports(
    posts: pd.DataFrame,
    freq: str | None = None,
    excluded_authors: Iterable[str] = (),
    config: DetectConfig = DetectConfig(),
) -> pd.DataFrame:
    """Outage reports per service and bin, in total ("reports") and per type (one column each).

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
    reports = _reports(posts, excluded_authors, pd.Timedelta(config.author_window))
    bins = reports["created_at"].dt.tz_convert("UTC").dt.floor(freq).rename("bin")
    total = reports.groupby([reports["service"], bins]).size().rename("reports")
    typed = reports[["service", "types"]].assign(bin=bins).explode("types").dropna(subset=["types"])
    by_type = pd.crosstab([typed["service"], typed["bin"]], typed["types"].astype(str))
    stamps = posts["created_at"].dt.tz_convert("UTC")
    grid = pd.date_range(stamps.min().floor(freq), stamps.max().floor(freq), freq=freq)
    index = pd.MultiIndex.from_product([sorted(posts["service"].unique()), grid], names=["service", "bin"])
    frame = total.to_frame().join(by_type.rename_axis(columns=None), how="left")
    return frame.reindex(index).fillna(0).astype(int)
