"""Benchmark `miner.detect.detect`: one year of 5-minute bins for 50 services.

Synthetic seasonal Poisson counts (daily and weekly cycle, levels from ~0.2 to ~200 reports per bin)
with a few injected spikes each. Prints the machine, total and per-series time, peak memory, and how
many injected spikes were found. Run: `.venv/bin/python bench/detect.py`.
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


def main() -> None:
    rng = np.random.default_rng(SEED)
    levels = np.geomspace(0.2, 200, SERVICES)
    data = [synthetic(rng, level) for level in levels]
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}"
    )
    started, times, results = time.perf_counter(), [], []
    for counts, spikes in data:
        t = time.perf_counter()
        incidents = detect(counts)
        times.append(time.perf_counter() - t)
        results.append(score(incidents, spikes))
    total = time.perf_counter() - started
    tracemalloc.start()
    detect(data[-1][0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{SERVICES} series x {len(data[0][0]):,} bins: total {total:.1f} s, per series "
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


if __name__ == "__main__":
    main()
