"""Benchmark `miner.detect.detect`: one year of 5-minute bins for 50 services.

Synthetic seasonal Poisson counts (daily and weekly cycle, levels from ~0.2 to ~200 reports per bin)
with a few injected spikes each. The process is pinned to one core. Prints the machine, total and
per-series time (wall clock and CPU), peak memory, and how many injected spikes were found and how many
incidents fell away from every spike. Run: `.venv/bin/python bench/detect.py`.
"""

from __future__ import annotations

import os
import platform
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from miner.detect import Incident, detect

SERVICES = 50
DAYS = 365
SPIKES = 4  # injected per service
SPIKE_BINS = 6  # 30 minutes at 5-minute bins
SEED = 7
# Per-type run: each report names one type with these shares (as the Free posts roughly do), so each
# service also has eight type series, as `miner detect --db` tests them.
TYPE_SHARES = {
    "connectivity": 0.5, "other": 0.15, "feed": 0.1, "app": 0.08,
    "login": 0.06, "website": 0.05, "dm": 0.03, "posting": 0.03,
}  # fmt: skip


def synthetic(rng: np.random.Generator, level: float) -> tuple[pd.Series, list[pd.Timestamp]]:
    """A year of seasonal Poisson counts at `level` reports per bin on average, with injected 5x spikes."""
    index = pd.date_range("2024-01-01", periods=DAYS * 288, freq="5min", tz="UTC")
    hours = (index.hour + index.minute / 60).to_numpy()
    daily = 1 + 0.6 * np.sin(2 * np.pi * (hours - 9) / 24)
    weekly = np.where(index.day_of_week.to_numpy() >= 5, 0.7, 1.0)
    mu = level * daily * weekly
    starts = np.sort(rng.choice(np.arange(30 * 288, len(index) - SPIKE_BINS, 288), SPIKES, replace=False))
    starts += rng.integers(0, 288, SPIKES)
    for start in starts:
        mu[start : start + SPIKE_BINS] *= 5
    return pd.Series(rng.poisson(mu).astype(float), index=index), list(index[starts])


def score(incidents: list[Incident], spikes: list[pd.Timestamp]) -> tuple[int, int]:
    """Injected spikes detected within 15 minutes of their start, and incidents far from every spike."""
    soon = pd.Timedelta("15min")
    found = sum(any(s <= i.detected_at <= s + soon for i in incidents) for s in spikes)
    near = pd.Timedelta(hours=1)
    false = sum(not any(i.start - near <= s <= i.end + near for s in spikes) for i in incidents)
    return found, false


def pin_to_one_core() -> str:
    """Run on one core (the first this process may use), so the figure is a one-core figure."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def main() -> None:
    pinned = pin_to_one_core()
    rng = np.random.default_rng(SEED)
    levels = np.geomspace(0.2, 200, SERVICES)
    data = [synthetic(rng, level) for level in levels]
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}; {pinned}; load average {os.getloadavg()[0]:.1f}"
    )
    started, cpu, times, results = time.perf_counter(), time.process_time(), [], []
    for counts, spikes in data:
        t = time.perf_counter()
        incidents = detect(counts)
        times.append(time.perf_counter() - t)
        results.append(score(incidents, spikes))
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    tracemalloc.start()
    detect(data[-1][0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{SERVICES} series x {len(data[0][0]):,} bins: total {total:.2f} s ({cpu:.2f} s CPU), per series "
        f"median {np.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )
    print(
        f"peak memory: {peak / 2**20:.0f} MiB traced for one series, "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB max RSS of the process"
    )
    found, false = (sum(r[i] for r in results) for i in (0, 1))
    print(
        f"injected 5x/30-min spikes found within 15 min: {found}/{SERVICES * SPIKES}; "
        f"incidents away from any spike: {false}"
    )
    missed = [f"{level:.2f}" for level, r in zip(levels, results, strict=True) if r[0] < SPIKES]
    print(f"series with a missed spike (mean reports per bin): {', '.join(missed) or 'none'}")
    per_type(rng, data)


def split_by_type(rng: np.random.Generator, counts: pd.Series) -> pd.DataFrame:
    """Each bin's reports shared out among the types (multinomial with `TYPE_SHARES`)."""
    shares = np.array(list(TYPE_SHARES.values()))
    split = rng.multinomial(counts.to_numpy().astype(np.int64), shares / shares.sum())
    return pd.DataFrame(split.astype(float), index=counts.index, columns=list(TYPE_SHARES))


def per_type(rng: np.random.Generator, data: list[tuple[pd.Series, list[pd.Timestamp]]]) -> None:
    """The same services with their type series tested too: time, spikes found, incidents away."""
    typed = [(counts, split_by_type(rng, counts), spikes) for counts, spikes in data]
    started, cpu = time.perf_counter(), time.process_time()
    results = [score(detect(counts, type_counts=types), spikes) for counts, types, spikes in typed]
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    found, false = (sum(r[i] for r in results) for i in (0, 1))
    print(
        f"with {len(TYPE_SHARES)} type series per service too (9 series each): total {total:.2f} s "
        f"({cpu:.2f} s CPU); spikes found {found}/{SERVICES * SPIKES}; incidents away from any spike: {false}"
    )


if __name__ == "__main__":
    main()
