"""Give the written posts of each day's parts folder their times and ids: data/devday/x-outage-day*.jsonl.

Run from the repository root: python data/devday/build_day.py
Times are drawn with a fixed seed, so the day is the same on every run: background posts spread over the
whole day, sporadic reports over the day away from the outage, outage-phase posts from 10:30 UTC with a sharp
rise and a slow decay over two hours (most posts in the first half hour), as reports arrive in a real outage.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
DAY = pd.Timestamp("2026-11-17", tz="UTC")  # a Tuesday
OUTAGE_START = DAY + pd.Timedelta("10:30:00")
OUTAGE_MINUTES = 120
DECAY_MINUTES = 35  # mean delay of an outage-phase post after the start: a sharp outage
QUIET = (DAY + pd.Timedelta("10:00:00"), DAY + pd.Timedelta("13:00:00"))  # sporadic reports stay outside
# Each written day: its parts folder, the seed of its times, the file it becomes. The second day was written
# by other writers, who saw neither the first day nor any training post: how far figures hold across writers.
DAYS = (("parts", 17, "x-outage-day.jsonl"), ("parts-2", 18, "x-outage-day-2.jsonl"))


def _minutes(phase: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Minutes after midnight for n posts of one phase."""
    if phase == "outage":
        offset = rng.exponential(DECAY_MINUTES, size=4 * n)
        offset = offset[offset < OUTAGE_MINUTES][:n]
        return (OUTAGE_START - DAY).total_seconds() / 60 + offset
    minutes = rng.uniform(0, 24 * 60, size=4 * n)
    if phase == "sporadic":
        lo, hi = ((t - DAY).total_seconds() / 60 for t in QUIET)
        minutes = minutes[(minutes < lo) | (minutes >= hi)]
    return minutes[:n]


def build(parts: str = "parts", seed: int = 17, prefix: str = "xday") -> list[dict]:
    """Every written post of a day with id, author, created_at; in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for part in sorted((HERE / parts).glob("*.jsonl")):
        posts = [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
        for phase in ("background", "sporadic", "outage"):
            chosen = [p for p in posts if p["phase"] == phase]
            for post, minute in zip(chosen, _minutes(phase, len(chosen), rng), strict=True):
                post["created_at"] = (DAY + pd.Timedelta(minutes=float(minute))).floor("s")
                rows.append(post)
    rows.sort(key=lambda p: (p["created_at"], p["text"]))
    return [
        {
            "id": f"{prefix}-{i:04d}",
            "author": f"{prefix}-author-{i:04d}",
            "created_at": p["created_at"].isoformat().replace("+00:00", "Z"),
            **{k: p[k] for k in ("lang", "text", "types", "phase")},
        }
        for i, p in enumerate(rows, start=1)
    ]


def main() -> None:
    for number, (parts, seed, name) in enumerate(DAYS, start=1):
        rows = build(parts, seed, "xday" if number == 1 else f"xday{number}")
        with (HERE / name).open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} posts, {sum(bool(r['types']) for r in rows)} reports")


if __name__ == "__main__":
    main()
