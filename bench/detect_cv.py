"""Leave-one-series-out cross-validation of the detector's sensitivity, next to the in-sample figures.

Labelled series: the five NAB realTweets series (`data/nab`), the Free posts classified by the shipped
model with the 2024-07-19 TV outage labelled (`data/demo/free-fr.csv.gz`, ~20 s to classify), and the
written X outage day (`data/devday`). Scored the way `python -m miner.evaluate nab` scores NAB (a window is
found when an alarm falls inside it; alarms in NAB's 15 % probation are ignored). Prints, per rate of
false alarms per service-week, every series' found/false alarms; then each held-out series with the rate
chosen on the others; then the cross-validated totals next to the in-sample ones, on NAB alone and on
all series. Run: `.venv/bin/python bench/detect_cv.py`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from miner.classify import load_model
from miner.crossval import FALSE_ALARM_COST, RATES, CrossValidation, cross_validate, devday_series
from miner.detect import DetectConfig
from miner.evaluate import Labelled, classified_store, free_series, nab_series
from miner.sensitivity import SENSITIVITY

DATA = Path(__file__).resolve().parents[1] / "data"


def labelled() -> list[Labelled]:
    """Every labelled series the repository holds."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = classified_store(DATA / "demo" / "free-fr.csv.gz", f"sqlite:///{tmp}/free.db", load_model())
        free = free_series(engine)
        engine.dispose()
    return [*nab_series(DATA / "nab"), free, devday_series(DATA / "devday" / "x-outage-day.jsonl")]


def short(name: str) -> str:
    return name.removeprefix("Twitter_volume_").removesuffix(".csv")


def pair(score: dict) -> str:
    return f"{score['found']}/{score['windows']} {score['false_alarms']:>2}"


def show(title: str, cv: CrossValidation) -> None:
    names = list(next(iter(cv.scores.values())))
    print(f"\n{title} (found/windows false alarms)")
    print(f"{'rate/week':>9}  " + "".join(f"{short(n):>10}" for n in names) + f"{'total':>12}")
    for rate, scores in cv.scores.items():
        cells = "".join(f"{pair(scores[n]):>10}" for n in names)
        print(f"{rate:>9g}  {cells}{pair(cv.in_sample(rate)):>12}")
    print(f"{'held out':<10} {'rate chosen on the others':>26} {'score there':>12} {'held out':>10}")
    for fold in cv.folds:
        rate = f"{fold.rate:g}/week"
        print(f"{short(fold.held_out):<10} {rate:>26} {pair(fold.train):>12} {pair(fold.test):>10}")
    held, fitted = cv.held_out(), cv.in_sample(cv.chosen)
    print(
        f"cross-validated: {held['found']}/{held['windows']} windows, {held['false_alarms']} false alarms; "
        f"in-sample at the rate chosen on all ({cv.chosen:g}/week): "
        f"{fitted['found']}/{fitted['windows']}, {fitted['false_alarms']} false alarms"
    )


def main() -> None:
    started = time.perf_counter()
    series = labelled()
    print(
        f"objective: windows found - {FALSE_ALARM_COST} x false alarms; rates {', '.join(map(str, RATES))}; "
        f"default {DetectConfig().false_alarms_per_week}/week, settings {SENSITIVITY}"
    )
    show("NAB realTweets (5 series)", cross_validate([s for s in series if s.name.endswith(".csv")]))
    show("all labelled series (NAB, Free, written X day)", cross_validate(series))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
