"""Memory of `miner classify` on a 2 GB input: its resident memory along the run and its peak, on one core.

    .venv/bin/python bench/classify_memory.py [--gb 2] [--unique-every 10] [--folder /tmp] [--cpu N]

Builds a JSONL file of about --gb gigabytes in a temporary folder under --folder (removed afterwards) from the
demo posts of data/demo cycled, one text in --unique-every made unique by a "#<row>" tag, so that the memos
of texts, chunks and words keep filling up and being emptied, as a long stream of new posts makes them. Then
runs `miner classify FILE` (JSONL on stdout, thrown away) in a fresh process pinned to one core, reads its
resident memory (/proc/PID/status) every half second, and prints it at each tenth of the run, with the peak
(the child's max RSS), next to the peak of the same command on the file's first 1%: memory is flat when the
two peaks are close. Takes a few minutes. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path

from classify import demo_texts  # bench/classify.py, beside this script

MINER = Path(sys.executable).with_name("miner")
SAMPLE_S = 0.5
SMALL_SHARE = 0.01  # the small run reads this share of the file's lines


def write_input(path: Path, size: int, unique_every: int) -> int:
    """About `size` bytes of JSONL; returns the number of posts."""
    texts = demo_texts()
    quoted = {text: json.dumps(text, ensure_ascii=False)[:-1] for text in texts}  # without the closing quote
    written = posts = 0
    with path.open("w", encoding="utf-8") as handle:
        for text in cycle(texts):
            tag = f" #{posts}" if posts % unique_every == 0 else ""
            line = f'{{"id": "m{posts}", "text": {quoted[text]}{tag}"}}\n'
            handle.write(line)
            written += len(line)
            posts += 1
            if written >= size:
                return posts


def head(source: Path, target: Path, lines: int) -> None:
    with source.open("rb") as inp, target.open("wb") as out:
        for _ in range(lines):
            out.write(inp.readline())


def rss_kb(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), None)


def run(source: Path, cpu: int) -> tuple[float, int, list[tuple[float, int]]]:
    """Seconds, peak RSS (KiB) and (elapsed, RSS KiB) samples of `miner classify SOURCE > /dev/null`."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(
            [str(MINER), "classify", str(source)],
            stdout=sink,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        )
        samples = []
        while not (ended := os.wait4(child.pid, os.WNOHANG))[0]:
            kb = rss_kb(child.pid)
            if kb is not None:
                samples.append((time.perf_counter() - start, kb))
            time.sleep(SAMPLE_S)
    _, status, usage = ended
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, with its resource usage
    if child.returncode:
        raise SystemExit(f"miner classify failed (exit {child.returncode})")
    return time.perf_counter() - start, usage.ru_maxrss, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--unique-every", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--cpu", type=int, default=min(os.sched_getaffinity(0)))
    args = parser.parse_args()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"load average {load} (1, 5, 15 min) before; one core: CPU {args.cpu}")
    with tempfile.TemporaryDirectory(dir=args.folder, prefix="miner-classify-memory-") as tmp:
        big, small = Path(tmp) / "posts.jsonl", Path(tmp) / "small.jsonl"
        posts = write_input(big, int(args.gb * 1e9), args.unique_every)
        head(big, small, int(posts * SMALL_SHARE))
        size_gb = big.stat().st_size / 1e9
        print(f"input   {size_gb:.2f} GB, {posts:,} posts, one text in {args.unique_every} made unique")
        small_s, small_peak, _ = run(small, args.cpu)
        seconds, peak, samples = run(big, args.cpu)
    for tenth in range(1, 11):
        at = seconds * tenth / 10
        kb = max((kb for t, kb in samples if t <= at), default=0)
        print(f"{tenth * 10:3d}% of the run ({at:6.1f} s): RSS up to {kb / 1024:6.0f} MiB")
    print(
        f"max RSS {peak / 1024:.0f} MiB on {size_gb:.2f} GB ({seconds:.0f} s, {posts / seconds:,.0f} posts/s)"
    )
    print(f"max RSS {small_peak / 1024:.0f} MiB on its first 1% ({small_s:.1f} s)")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} after")


if __name__ == "__main__":
    main()
