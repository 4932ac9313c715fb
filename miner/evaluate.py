"""Score the spike detector on labelled data: `python -m miner.evaluate nab PATH`.

NAB realTweets (five tweet-volume series at 5-minute bins, labels.json with "windows" and "anomalies")
is scored the way NAB counts detections: a labelled window is found when an alarm (an incident's
`detected_at`) falls inside it; an alarm outside every window is a false alarm; alarms in the
probationary period are ignored. NAB's sweeper sets that period to min(floor(15 % of rows), 750 rows)
(nab/sweeper.py, `_getProbationaryLength`), so every labelled window of these series can be found.
The delay is detected_at minus the window's first labelled anomaly (negative = before the label).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd

from miner.detect import DetectConfig, detect
from miner.errors import BadInput, MinerError
from miner.sources.records import MAX_FUTURE, MIN_DATE

PROBATION_SHARE = 0.15  # NAB ignores detections in the first 15 % of a series...
PROBATION_CAP_ROWS = 750  # ...but never more than 15 % of 5000 rows (nab/sweeper.py)
# Largest value a counts CSV may hold: a trillion posts in one bin is no count, and sums of larger values
# overflow the detector's arithmetic.
MAX_COUNT = 1e12


def load_series(csv: Path) -> pd.Series:
    """A NAB CSV (timestamp,value; naive timestamps are UTC) as a count series; BadInput names the first row
    whose timestamp is no ISO 8601 date within the range posts are accepted in, or whose value is no count
    (a number from 0 to MAX_COUNT)."""
    try:
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BadInput(f"{csv}: not a readable CSV ({_first_line(exc)})") from None
    if not {"timestamp", "value"} <= set(frame.columns):
        raise BadInput(f"{csv}: expected a CSV with columns timestamp,value, found {','.join(frame.columns)}")
    times = pd.to_datetime(frame["timestamp"], errors="coerce", format="ISO8601", utc=True)
    values = pd.to_numeric(frame["value"].str.strip(), errors="coerce")
    _check_rows(csv, frame, times.isna(), "timestamp", "is not an ISO 8601 date")
    latest = pd.Timestamp.now(tz="UTC") + MAX_FUTURE
    out_of_range = (times < MIN_DATE) | (times > latest)  # an absurd date would stretch the series over ages
    _check_rows(csv, frame, out_of_range, "timestamp", f"is out of range ({MIN_DATE:%Y-%m-%d} to tomorrow)")
    not_count = values.isna() | ~values.between(0, MAX_COUNT)  # NaN, infinities and negatives fail between()
    _check_rows(csv, frame, not_count, "value", f"is not a count (a number from 0 to {MAX_COUNT:.0e})")
    return pd.Series(values.to_numpy(dtype=float), index=pd.DatetimeIndex(times), name=csv.stem)


def _check_rows(csv: Path, frame: pd.DataFrame, bad: pd.Series, column: str, problem: str) -> None:
    """BadInput on the first row flagged `bad`, with its line number in the file (the header is line 1)."""
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise BadInput(f"{csv}: line {row + 2}: {column} {frame[column].iloc[row]!r} {problem}")


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def probation_end(index: pd.DatetimeIndex) -> pd.Timestamp:
    """First timestamp whose alarms count, as NAB's sweeper computes it."""
    rows = min(math.floor(PROBATION_SHARE * len(index)), PROBATION_SHARE * 5000)
    return index[int(rows)]


def score_alarms(
    alarms: Sequence[pd.Timestamp],
    windows: Sequence[tuple[pd.Timestamp, pd.Timestamp]],
    anomalies: Sequence[pd.Timestamp],
    start: pd.Timestamp,
) -> dict[str, Any]:
    """Windows found, false alarms and delays (minutes) for one series' alarms from `start` on."""
    counted = [t for t in alarms if t >= start]
    hits = [[t for t in counted if first <= t <= last] for first, last in windows]
    delays = [
        _delay(inside[0], first, last, anomalies)
        for inside, (first, last) in zip(hits, windows, strict=True)
        if inside
    ]
    false_alarms = [t for t in counted if not any(first <= t <= last for first, last in windows)]
    return {
        "windows": len(windows),
        "found": len(delays),
        "false_alarms": len(false_alarms),
        "delays_min": delays,
        "false_alarm_times": [t.isoformat() for t in false_alarms],
    }


def _delay(
    alarm: pd.Timestamp, first: pd.Timestamp, last: pd.Timestamp, anomalies: Sequence[pd.Timestamp]
) -> float:
    """Minutes from the window's first labelled anomaly to the alarm (NaN if the window has no label)."""
    labels = [a for a in anomalies if first <= a <= last]
    return (alarm - labels[0]).total_seconds() / 60 if labels else math.nan


def _utc(stamp: str) -> pd.Timestamp:
    return pd.Timestamp(stamp).tz_localize("UTC")


def evaluate_nab(path: Path | str, config: DetectConfig | None = None) -> dict[str, Any]:
    """Run the detector on every series of labels.json under `path`; per-series and total scores."""
    root, config = Path(path), config or DetectConfig()
    if not (root / "labels.json").is_file():
        raise BadInput(f"no labels.json in {root}")
    labels = json.loads((root / "labels.json").read_text())
    series = {}
    for name in sorted(labels["windows"]):
        counts = load_series(root / name)
        alarms = [incident.detected_at for incident in detect(counts, config)]
        windows = [(_utc(a), _utc(b)) for a, b in labels["windows"][name]]
        anomalies = [_utc(a) for a in labels["anomalies"].get(name, [])]
        series[name] = score_alarms(alarms, windows, anomalies, probation_end(counts.index))
    return {"series": series, "total": _total(series.values())}


def _total(scores: Any) -> dict[str, Any]:
    scores = list(scores)
    delays = [d for s in scores for d in s["delays_min"]]
    return {key: sum(s[key] for s in scores) for key in ("windows", "found", "false_alarms")} | {
        "delays_min": delays
    }


def _median(delays: Sequence[float]) -> str:
    known = [d for d in delays if not math.isnan(d)]
    return f"{median(known):+.0f} min" if known else "-"


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table: found/windows, false alarms and median delay per series and in total."""
    lines = [f"{'series':<28} {'found':>7} {'false alarms':>13} {'median delay':>13}"]
    for name, s in [*result["series"].items(), ("TOTAL", result["total"])]:
        found = f"{s['found']}/{s['windows']}"
        lines.append(f"{name:<28} {found:>7} {s['false_alarms']:>13} {_median(s['delays_min']):>13}")
    return "\n".join(lines)


# The Free TV outage of 2024-07-19 (black screens during the U20 rugby final) and the data-breach news
# day, as described in the dataset's SOURCE.md: the first must be found, the second must not.
FREE_OUTAGE = (pd.Timestamp("2024-07-19 17:00", tz="UTC"), pd.Timestamp("2024-07-19 19:00", tz="UTC"))
FREE_NEWS_DAY = (pd.Timestamp("2024-10-22 00:00", tz="UTC"), pd.Timestamp("2024-10-23 00:00", tz="UTC"))


def evaluate_free(csv: Path, db_url: str, model_dir: Path | None = None) -> dict[str, Any]:
    """Import the Free posts, classify them, detect incidents (official accounts excluded) and score
    them against the known outage and news day. `db_url` should be a fresh database."""
    from miner import store
    from miner.batch import classify_stored
    from miner.classify import load_model
    from miner.incidents import update_incidents
    from miner.ingest import import_file
    from miner.services import load_services
    from miner.sources.records import ColumnMap

    engine = store.connect(db_url)
    import_file(engine, csv, ColumnMap(source="x", service="free"))
    classify_stored(engine, load_model(model_dir))
    incidents = update_incidents(engine, excluded_authors=load_services().get("free").official_keys())["free"]
    first = _first_report(engine, *FREE_OUTAGE)
    hits = [i for i in incidents if FREE_OUTAGE[0] <= i.detected_at <= FREE_OUTAGE[1] + pd.Timedelta("1h")]
    news = [i for i in incidents if FREE_NEWS_DAY[0] <= i.start < FREE_NEWS_DAY[1]]
    return {
        "incidents": [i.to_dict() for i in incidents],
        "outage_found": bool(hits),
        "first_report": None if first is None else first.isoformat(),
        "delay_min": (hits[0].detected_at - first).total_seconds() / 60
        if hits and first is not None
        else None,
        "news_day_flagged": bool(news),
    }


def _first_report(engine: Any, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp | None:
    """Time of the first post classified as an outage report in [start, end]."""
    from sqlalchemy import and_, func, select

    from miner import store

    p, r = store.posts, store.predictions
    join = p.join(r, and_(r.c.source == p.c.source, r.c.post_id == p.c.id))
    query = (
        select(func.min(p.c.created_at))
        .select_from(join)
        .where(r.c.is_outage, p.c.created_at >= start.to_pydatetime(), p.c.created_at <= end.to_pydatetime())
    )
    with engine.connect() as conn:
        first = conn.execute(query).scalar()
    return (
        None
        if first is None
        else pd.Timestamp(first).tz_localize("UTC")
        if pd.Timestamp(first).tz is None
        else pd.Timestamp(first)
    )


def format_free(result: dict[str, Any]) -> str:
    """The incidents found over the year, then the two checks."""
    lines = [f"{'start':<26} {'detected_at':<26} {'end':<26} {'peak':>5} {'expected':>9}  level"]
    for i in result["incidents"]:
        lines.append(
            f"{i['start']:<26} {i['detected_at']:<26} {i['end']:<26} {i['peak_count']:>5} "
            f"{i['expected_at_peak']:>9.2f}  {i['level']}"
        )
    delay = "n/a" if result["delay_min"] is None else f"{result['delay_min']:.0f} min after the first report"
    lines.append(
        f"2024-07-19 TV outage found: {result['outage_found']} ({delay}, first report "
        f"{result['first_report']})"
    )
    lines.append(f"2024-10-22 data-breach news day flagged: {result['news_day_flagged']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, evaluate, print; a usage problem exits 2 with a one-line message."""
    parser = argparse.ArgumentParser(prog="python -m miner.evaluate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True)
    nab = sub.add_parser("nab", help="NAB realTweets: windows found, false alarms, delay")
    nab.add_argument("path", type=Path, help="folder with the Twitter_volume_*.csv files and labels.json")
    free = sub.add_parser("free", help="Free posts: is the 2024-07-19 TV outage found, and what else")
    free.add_argument("path", type=Path, help="folder with posts.csv (or the CSV itself)")
    free.add_argument(
        "--model", type=Path, default=None, help="model version folder (default models/DEFAULT)"
    )
    args = parser.parse_args(argv)
    try:
        if args.benchmark == "nab":
            print(format_report(evaluate_nab(args.path)))
        else:
            csv = args.path / "posts.csv" if args.path.is_dir() else args.path
            if not csv.is_file():
                raise BadInput(f"{csv}: no such file")
            with tempfile.TemporaryDirectory() as tmp:
                print(format_free(evaluate_free(csv, f"sqlite:///{tmp}/free.db", args.model)))
    except MinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
