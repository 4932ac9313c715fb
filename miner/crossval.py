"""Choose the detector's sensitivity by leave-one-series-out cross-validation on labelled series.

The one knob fitted to data is the sensitivity, `DetectConfig.false_alarms_per_week`; every other constant
has a reason of its own. For each labelled series held out in turn, the rate in `RATES` that scores best
on the other series is chosen and scored on the held-out one: summed over the series, that is how the
selection does on series it has not seen. The default is the rate that scores best on all of them.
Score: windows found minus `FALSE_ALARM_COST` per false alarm (NAB's rules, see `miner.evaluate`).

Labelled series: the NAB realTweets series (`miner.evaluate.nab_series`), the Free posts classified by
the shipped model with the 2024-07-19 TV outage labelled (`miner.evaluate.free_series`), and the written
X outage day of `data/devday/x-outage-day.jsonl` (`devday_series`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from miner.detect import DetectConfig, count_reports
from miner.errors import BadInput
from miner.evaluate import Labelled, probation_end, read_day, score_series, total

# Rates tried, false alarms per service-week: about a factor 1.4 apart, from one false alarm a month to
# two a week.
RATES: tuple[float, ...] = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
# A missed outage costs as much as two false alarms: operators ask for fewer misses, but a detector that
# cries wolf every day gets muted.
FALSE_ALARM_COST = 0.5

# The written day is replayed after this many quiet days, so the detector has its four weeks of history.
DEVDAY_HISTORY_DAYS = 28


def objective(score: dict[str, Any]) -> float:
    """Windows found minus `FALSE_ALARM_COST` per false alarm."""
    return score["found"] - FALSE_ALARM_COST * score["false_alarms"]


@dataclass(frozen=True)
class Fold:
    """One held-out series: the rate chosen on the others, and its score there and on the held-out one."""

    held_out: str
    rate: float
    train: dict[str, Any]
    test: dict[str, Any]


@dataclass(frozen=True)
class CrossValidation:
    """Scores of every rate on every series, the leave-one-series-out folds and the chosen default."""

    scores: dict[float, dict[str, dict[str, Any]]]
    folds: list[Fold]
    chosen: float

    def in_sample(self, rate: float) -> dict[str, Any]:
        """Totals of one rate over all series."""
        return total(self.scores[rate].values())

    def held_out(self) -> dict[str, Any]:
        """Totals over the folds' held-out series: the cross-validated figures."""
        return total(fold.test for fold in self.folds)


def choose(scores: dict[float, dict[str, dict[str, Any]]], names: Sequence[str]) -> float:
    """The rate with the best objective summed over `names` (the lower rate on a tie)."""
    return max(scores, key=lambda rate: (objective(total(scores[rate][n] for n in names)), -rate))


def cross_validate(
    series: Sequence[Labelled], rates: Sequence[float] = RATES, base: DetectConfig | None = None
) -> CrossValidation:
    """Leave-one-series-out cross-validation of the sensitivity over `series` (at least two)."""
    if len(series) < 2:
        raise BadInput(f"cross-validation needs at least two labelled series, got {len(series)}")
    base = base or DetectConfig()
    scores = {
        rate: {s.name: score_series(s, replace(base, false_alarms_per_week=rate)) for s in series}
        for rate in rates
    }
    names = [s.name for s in series]
    folds = []
    for name in names:
        others = [n for n in names if n != name]
        rate = choose(scores, others)
        folds.append(Fold(name, rate, total(scores[rate][n] for n in others), scores[rate][name]))
    return CrossValidation(scores, folds, choose(scores, names))


def devday_posts(day: pd.DataFrame) -> pd.DataFrame:
    """The written day's posts with their gold labels (`miner.detect.POST_COLUMNS`), after
    `DEVDAY_HISTORY_DAYS` quiet days that replay its background posts and sporadic reports at the same
    times of day. Each post has its own author."""
    quiet = day[day["phase"] != "outage"]
    history = [
        quiet.assign(created_at=quiet["created_at"] - pd.Timedelta(days=back))
        for back in range(DEVDAY_HISTORY_DAYS, 0, -1)
    ]
    frame = pd.concat([*history, day], ignore_index=True)
    return pd.DataFrame(
        {
            "created_at": frame["created_at"],
            "author": [f"writer{i}" for i in range(len(frame))],
            "service": "x",
            "is_outage": frame["types"].map(len) > 0,
            "types": frame["types"],
        }
    ).sort_values("created_at", ignore_index=True)


def devday_series(day_file: Path, config: DetectConfig | None = None) -> Labelled:
    """The written outage day as a labelled series: report counts from the gold labels, in total and per
    type, with the span of the outage-phase posts as the one window."""
    config = config or DetectConfig()
    day = read_day(day_file)
    counts = count_reports(devday_posts(day), config.freq, config=config).xs("x")
    outage = day.loc[day["phase"] == "outage", "created_at"]
    start, end = outage.min(), outage.max()
    return Labelled(
        "x-devday",
        counts["reports"],
        ((start, end),),
        (start,),
        probation_end(counts.index),
        counts.drop(columns="reports"),
    )
