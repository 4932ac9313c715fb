"""Throughput of language id and normalise + lemmatise on real posts, on one core.

    python bench/text.py [--posts N] [--repeat R]

Reads the real French (Free) and English (Spotify) posts of data/demo, repeats them up to N posts, and prints
the machine, then posts/s for each stage (best of R runs), from the process's CPU time, which other work on a
shared machine does not inflate, and from wall time. The first pass over the distinct posts is timed apart:
later passes reuse the lemmatizer's memo of whitespace chunks, as a long-running process does.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from miner.lang import detect_lang, detect_langs
from miner.text import lemmatize, normalize

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
SOURCES = (DEMO / "free-fr.csv.gz", DEMO / "spotify-en.csv.gz")
DEFAULT_POSTS = 100_000  # enough for stable timings, a few seconds per stage
DEFAULT_REPEAT = 3  # best of 3: other work on a shared machine only ever slows a run down
SINGLE_SAMPLE = 5_000  # posts for the one-at-a-time detect_lang figure


def load_posts() -> list[str]:
    """Text of every post in the two real corpora."""
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["text"]) for path in SOURCES]
    return [text for frame in frames for text in frame["text"]]


def best_rate(run: Callable[[], object], n_posts: int, repeat: int) -> tuple[float, float]:
    """Posts per second of the fastest of `repeat` runs, by CPU time and by wall time."""
    cpu, wall = [], []
    for _ in range(repeat):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return n_posts / min(cpu), n_posts / min(wall)


def text_stage(texts: list[str], langs: list[str]) -> list[str]:
    """The text stage of the classify path: normalise, then lemmatise."""
    return lemmatize([normalize(text) for text in texts], langs)


def first_pass(distinct: list[str]) -> None:
    """Cold start: model loading and a first look at every distinct post, then a second, warm pass."""
    start = time.perf_counter()
    text_stage(distinct, detect_langs(distinct))
    elapsed = time.perf_counter() - start
    print(f"first pass over {len(distinct):,} distinct posts, loading included: {elapsed:.1f} s")
    cpu, wall = best_rate(lambda: text_stage(distinct, detect_langs(distinct)), len(distinct), 1)
    print(f"second pass over the distinct posts, all stages: {cpu:,.0f} posts/s CPU, {wall:,.0f} wall")


def stage_rates(texts: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """Posts/s of each stage over `texts`."""
    langs = detect_langs(texts)
    sample = texts[:SINGLE_SAMPLE]
    return {
        "detect_langs (batch)": best_rate(lambda: detect_langs(texts), len(texts), repeat),
        "detect_lang (one at a time)": best_rate(lambda: [detect_lang(t) for t in sample], len(sample), 1),
        "normalize": best_rate(lambda: [normalize(t) for t in texts], len(texts), repeat),
        "normalize + lemmatize": best_rate(lambda: text_stage(texts, langs), len(texts), repeat),
        "lang id + normalize + lemmatize": best_rate(
            lambda: text_stage(texts, detect_langs(texts)), len(texts), repeat
        ),
    }


def main() -> None:
    """Print the machine, then posts/s per stage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cpus, one used")
    print(f"python {platform.python_version()}")
    distinct = load_posts()
    first_pass(distinct)
    texts = (distinct * (args.posts // len(distinct) + 1))[: args.posts]
    print(f"{len(texts):,} posts ({len(distinct):,} distinct, repeated):")
    print(f"{'stage':>32}  {'posts/s (CPU)':>13}  {'µs/post':>7}  {'posts/s (wall)':>14}")
    for stage, (cpu, wall) in stage_rates(texts, args.repeat).items():
        print(f"{stage:>32}  {cpu:>13,.0f}  {1e6 / cpu:>7.1f}  {wall:>14,.0f}")


if __name__ == "__main__":
    main()
