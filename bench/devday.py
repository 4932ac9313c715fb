"""The written outage days (data/devday): does the model find the reports, and get each type's share right?

Runs each day (the second was written by other writers, who saw neither the first nor any training post)
through the product (import into a fresh SQLite store, classify, detect) with the shipped model
or `--model DIR`, and prints outage F1 (overall, fr, en) and, over the outage, each type's labelled and
predicted share of reports with the error in points. The goals (issue 15): outage F1 >= 0.90 and every share
within 5 points. The day is for development only, never training data.
Run: `.venv/bin/python bench/devday.py [--model models/outage-...]`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from miner.classify import load_model
from miner.evaluate import evaluate_day, format_day

DAYS = sorted((Path(__file__).resolve().parents[1] / "data" / "devday").glob("x-outage-day*.jsonl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model version folder (default: shipped)")
    args = parser.parse_args()
    model = load_model(args.model)
    for day in DAYS:
        print(f"\nday: {day.name}, model: {model.version}")
        with tempfile.TemporaryDirectory() as tmp:
            print(format_day(evaluate_day(day, f"sqlite:///{tmp}/day.db", model)))
    print("goals: outage F1 >= 0.90, every share within 5 points")


if __name__ == "__main__":
    main()
