"""Active learning: does labelling the posts the model is least sure of beat labelling posts at random?

    .venv/bin/python bench/active_learning.py [--start 300] [--step 100] [--rounds 20] [--seeds 5]

Simulates the review loop on the labelled corpus. A model starts from a random slice of the train split;
each round, `--step` more train posts get their label (the oracle is the corpus label), picked either in
the review queue's order (`miner.feedback.margins`: nearest a decision threshold first) or at random, and
the model is fitted again. Every model is scored on the fixed test split (outage F1 and type macro-F1).
Prints both learning curves, averaged over seeds, and how many fewer labels uncertainty sampling needs to
reach the random curve's final F1. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from miner.classify import OutageModel, label_matrix
from miner.feedback import margins
from miner.predict import decide
from miner.train import cv_groups, scores, step_load

ROOT = Path(__file__).resolve().parents[1]
# Fast set-up (as in tests/test_classify.py): about a second a fit, so 2 strategies x 5 seeds x 21 fits
# run in ~4 minutes; the absolute F1 is under the shipped model's, the comparison is what counts.
FAST_PARAMS = {"char_ngrams": (2, 4), "cv": 3, "max_features": 20_000}
METRICS = ("outage F1", "type macro-F1")
STRATEGIES = ("random", "uncertainty")

Picker = Callable[[OutageModel, pd.DataFrame, int, np.random.Generator], np.ndarray]
"""(model, unlabelled pool, how many, rng) -> positions in the pool to label next."""


def fit(rows: pd.DataFrame, seed: int) -> OutageModel:
    model = OutageModel(**FAST_PARAMS, random_state=seed, version="bench")
    return model.fit(rows, rows["types"].tolist(), groups=cv_groups(rows["author"]))


def score(model: OutageModel, test: pd.DataFrame) -> tuple[float, float]:
    """Outage F1 and type macro-F1 on the test split."""
    result = scores(
        label_matrix(test["types"].tolist()), decide(model.predict_proba(test), model.thresholds_)
    )
    return result["outage"]["f1"], result["type_macro_f1"]


def pick_random(model: OutageModel, pool: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(pool), size=min(n, len(pool)), replace=False)


def pick_uncertain(model: OutageModel, pool: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """The review queue's choice: smallest margin first (ties in pool order, as SQL would give them)."""
    return np.argsort(margins(model.predict_proba(pool), model.thresholds_), kind="stable")[:n]


PICKERS: dict[str, Picker] = {"random": pick_random, "uncertainty": pick_uncertain}


@dataclass(frozen=True)
class Plan:
    """Labels to start from, labels added per round, rounds."""

    start: int
    step: int
    rounds: int


def curve(
    train: pd.DataFrame, test: pd.DataFrame, picker: Picker, plan: Plan, seed: int
) -> list[tuple[int, float, float]]:
    """(labels, outage F1, type macro-F1) after each round; a seed gives every strategy the same start."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    labelled, pool = train.iloc[order[: plan.start]], train.iloc[order[plan.start :]]
    points = []
    for _ in range(plan.rounds + 1):
        model = fit(labelled.reset_index(drop=True), seed)
        points.append((len(labelled), *score(model, test)))
        chosen = picker(model, pool, plan.step, rng)
        labelled = pd.concat([labelled, pool.iloc[chosen]])
        pool = pool.drop(pool.index[chosen])
    return points


def labels_to_reach(curve_frame: pd.DataFrame, metric: str, target: float) -> int | None:
    """Fewest labels at which a (seed-averaged) curve reaches `target`; None when it never does."""
    reached = curve_frame.loc[curve_frame[metric] >= target, "labels"]
    return int(reached.min()) if not reached.empty else None


def report(results: pd.DataFrame) -> None:
    """The two curves side by side, then the labels uncertainty sampling saves per metric."""
    by_round = results.groupby(["strategy", "labels"])[list(METRICS)]
    mean, spread = by_round.mean(), by_round.std().fillna(0)
    cells = mean.map("{:.3f}".format) + " ± " + spread.map("{:.3f}".format)
    print(pd.concat({s: cells.loc[s] for s in STRATEGIES}, axis=1).to_string())
    final = mean.loc["random"].index.max()
    for metric in METRICS:
        target = mean.loc[("random", final), metric]
        needed = labels_to_reach(mean.loc["uncertainty"].reset_index(), metric, target)
        if needed is None:
            print(
                f"{metric}: uncertainty sampling never reaches random's final {target:.3f} ({final} labels)"
            )
        else:
            saved = final - needed
            print(
                f"{metric}: random reaches {target:.3f} with {final} labels; uncertainty sampling with "
                f"{needed}: {saved} fewer ({saved / final:.0%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=300, help="labelled train posts to start from")
    parser.add_argument("--step", type=int, default=100, help="labels added per round")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    plan = Plan(args.start, args.step, args.rounds)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    started = time.perf_counter()
    data = step_load(ROOT / "data" / "labeled")
    train, test = data["train"], data["test"]
    print(f"train split {len(train):,} posts (the pool), test split {len(test):,} posts")
    rows = [
        {"strategy": name, "seed": seed, "labels": labels, METRICS[0]: outage, METRICS[1]: types}
        for seed in range(args.seeds)
        for name in STRATEGIES
        for labels, outage, types in curve(train, test, PICKERS[name], plan, seed)
    ]
    report(pd.DataFrame(rows))
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
