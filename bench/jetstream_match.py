"""How fast the Jetstream listener keeps up, on one core: the matcher alone, and each frame's whole path.

    .venv/bin/python bench/jetstream_match.py [--events 200000]

Two streams in Jetstream's recorded layout (`data/jetstream/frames.jsonl`), with the shipped services:

* recorded: the 23 recorded frames (posts in French and English, others, deletes, likes, identity and
  account events, malformed frames) over and over;
* corpus: every post of the labelled corpus (`data/labeled/corpus.jsonl`, real French and English posts,
  almost all about a watched service) as post creations: the hardest case for the matcher, since
  nearly every text passes its first, cheap tests, while on the real firehose few posts name a service.

For each it prints posts/s through `Matcher.match` alone (the text of every post in French or English),
then events/s through the listener's own work (`Jetstream.take` and `flush`): JSON decoding, checks,
languages, matching, the stored post for each match, and a commit of the posts and cursor every 2,000
events into an in-memory SQLite store (the WebSocket itself is not included). The goal is at least 2,000
posts/s on one core. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from itertools import cycle, islice
from pathlib import Path

from miner import store
from miner.collect.jetstream import Jetstream, languages
from miner.match import Matcher
from miner.services import load_services

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ROOT / "data" / "jetstream" / "frames.jsonl"
CORPUS = ROOT / "data" / "labeled" / "corpus.jsonl"
GOAL = 2_000  # posts/s on one core: well above Bluesky's whole post rate
FLUSH_EVERY = 2_000  # events between commits (the listener commits every 2 s: fewer events at live rates)


def recorded_frames() -> list[str]:
    return [json.loads(line)["frame"] for line in FRAMES.read_text(encoding="utf-8").splitlines()]


def corpus_frames(template: dict) -> list[str]:
    """Each corpus post as a post creation in the recorded layout (the first recorded post's envelope)."""
    frames = []
    for i, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines()):
        post = json.loads(line)
        event = json.loads(json.dumps(template))
        event["time_us"] += i
        event["commit"]["rkey"] = f"3lbench{i:06d}"
        event["commit"]["record"] |= {"text": post["text"], "langs": [post["lang"]]}
        frames.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
    return frames


def posts_of(frames: list[str]) -> list[tuple[str, list[str]]]:
    """(text, languages) of the French and English posts among the frames: what the matcher sees."""
    found = []
    for frame in frames:
        try:
            record = json.loads(frame)["commit"]["record"]
        except (ValueError, KeyError, TypeError):
            continue
        langs = languages(record.get("langs"))
        if langs and isinstance(record.get("text"), str):
            found.append((record["text"], langs))
    return found


def timed(work: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def bench(name: str, frames: list[str], events: int, matcher: Matcher, listener: Jetstream) -> None:
    stream = list(islice(cycle(frames), events))
    posts = posts_of(stream)

    def match_all() -> int:
        return sum(matcher.match(text, langs) is not None for text, langs in posts)

    def take_all() -> int:
        for i, frame in enumerate(stream, 1):
            listener.take(frame)
            if i % FLUSH_EVERY == 0:
                listener.flush()
        listener.flush()
        return listener.counters.matched

    match_all()  # warm-up: regex compilation caches, first allocations
    seconds, matched = timed(match_all)
    print(
        f"{name}: matcher: {len(posts):,} fr/en posts in {seconds:.2f} s = "
        f"{len(posts) / seconds:,.0f} posts/s"
    )
    print(f"{name}:   matched {matched:,} ({matched / len(posts):.1%})")
    seconds, _ = timed(take_all)
    print(
        f"{name}: listener, per frame: {len(stream):,} events in {seconds:.2f} s = "
        f"{len(stream) / seconds:,.0f} events/s ({listener.counters.posts / seconds:,.0f} posts/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    events = parser.parse_args().events
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    os.environ.setdefault("MINER_AUTHOR_SALT", "bench")  # authors are hashed: no salt file written
    logging.getLogger("miner").setLevel(logging.ERROR)  # each rejected frame would log a line
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (pinned to 1), Python {platform.python_version()}; goal >= {GOAL:,} posts/s"
    )
    catalog = load_services()
    matcher = Matcher(catalog)
    recorded = recorded_frames()
    for name, frames in (("recorded", recorded), ("corpus", corpus_frames(json.loads(recorded[0])))):
        listener = Jetstream(store.connect("sqlite://"), matcher, ["ws://127.0.0.1:9"])  # never connects
        bench(name, frames, events, matcher, listener)


if __name__ == "__main__":
    main()
