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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine

from miner import store
from miner.detect import DetectConfig, count_reports, detect
from miner.errors import BadInput, MinerError
from miner.incidents import latest_model_version, load_reports, update_incidents
from miner.sensitivity import parse_sensitivity
from miner.services import load_services
from miner.sources.records import MAX_FUTURE, MIN_DATE

if TYPE_CHECKING:
    from miner.classify import OutageModel

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


@dataclass(frozen=True)
class Labelled:
    """A count series with its labelled incident windows: what the detector is scored on.

    Alarms count from `start` on (NAB's probation); `type_counts` (optional) holds the per-type series."""

    name: str
    counts: pd.Series
    windows: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    anomalies: tuple[pd.Timestamp, ...]
    start: pd.Timestamp
    type_counts: pd.DataFrame | None = None


def nab_series(path: Path | str) -> list[Labelled]:
    """Every series of labels.json under `path` with its windows and labelled anomalies."""
    root = Path(path)
    if not (root / "labels.json").is_file():
        raise BadInput(f"no labels.json in {root}")
    labels = json.loads((root / "labels.json").read_text())
    found = []
    for name in sorted(labels["windows"]):
        counts = load_series(root / name)
        windows = tuple((_utc(a), _utc(b)) for a, b in labels["windows"][name])
        anomalies = tuple(_utc(a) for a in labels["anomalies"].get(name, []))
        found.append(Labelled(name, counts, windows, anomalies, probation_end(counts.index)))
    return found


def score_series(series: Labelled, config: DetectConfig) -> dict[str, Any]:
    """Run the detector on one labelled series and score its alarms (`score_alarms`)."""
    alarms = [i.detected_at for i in detect(series.counts, config, series.type_counts)]
    return score_alarms(alarms, series.windows, series.anomalies, series.start)


def evaluate_nab(path: Path | str, config: DetectConfig | None = None) -> dict[str, Any]:
    """Run the detector on every series of labels.json under `path`; per-series and total scores."""
    config = config or DetectConfig()
    series = {s.name: score_series(s, config) for s in nab_series(path)}
    return {"series": series, "total": total(series.values())}


def total(scores: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Windows, windows found and false alarms summed over series, with every delay."""
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


def classified_store(path: Path, db_url: str, model: OutageModel, service: str = "free") -> Engine:
    """A store at `db_url` (it should be fresh) holding a file's posts as X posts of `service`, classified
    by the model."""
    from miner.batch import classify_stored
    from miner.ingest import import_file
    from miner.sources.records import ColumnMap

    engine = store.connect(db_url)
    import_file(engine, path, ColumnMap(source="x", service=service))
    classify_stored(engine, model.predictor())
    return engine


def free_series(engine: Engine, config: DetectConfig | None = None) -> Labelled:
    """The Free report counts of a classified store (official accounts excluded), in total and per type,
    with the TV outage as the one labelled window (to an hour after its end) from its first report."""
    config = config or DetectConfig()
    with engine.connect() as conn:
        reports = load_reports(conn, latest_model_version(conn) or "", "free", None)
    excluded = load_services().get("free").official_keys()
    counts = count_reports(reports, config.freq, excluded, config).xs("free")
    window = (FREE_OUTAGE[0], FREE_OUTAGE[1] + pd.Timedelta("1h"))
    first = _first_report(engine, *FREE_OUTAGE)
    return Labelled(
        "free",
        counts["reports"],
        (window,),
        () if first is None else (first,),
        probation_end(counts.index),
        counts.drop(columns="reports"),
    )


def burst_start(series: Labelled, config: DetectConfig) -> pd.Timestamp | None:
    """Start of the first bin of the labelled window holding `min_excess` reports: when the reports
    become a burst (before it they trickle in, one bin at a time)."""
    first, last = series.windows[0]
    inside = series.counts.loc[first:last]
    burst = inside.index[inside >= config.min_excess]
    return burst[0] if len(burst) else None


def evaluate_free(
    csv: Path, db_url: str, model_dir: Path | None = None, config: DetectConfig | None = None
) -> dict[str, Any]:
    """Import the Free posts, classify them, detect incidents (official accounts excluded) and score
    them against the known outage and news day. `db_url` should be a fresh database."""
    config = config or DetectConfig()
    from miner.classify import load_model

    engine = classified_store(csv, db_url, load_model(model_dir))
    excluded = load_services().get("free").official_keys()
    incidents = update_incidents(engine, config=config, excluded_authors=excluded)["free"]
    series = free_series(engine, config)
    first, burst = (series.anomalies or (None,))[0], burst_start(series, config)
    hits = [i for i in incidents if FREE_OUTAGE[0] <= i.detected_at <= FREE_OUTAGE[1] + pd.Timedelta("1h")]
    news = [i for i in incidents if FREE_NEWS_DAY[0] <= i.start < FREE_NEWS_DAY[1]]

    def minutes_from(t: pd.Timestamp | None) -> float | None:
        return (hits[0].detected_at - t).total_seconds() / 60 if hits and t is not None else None

    return {
        "incidents": [i.to_dict() for i in incidents],
        "outage_found": bool(hits),
        "first_report": None if first is None else first.isoformat(),
        "delay_min": minutes_from(first),
        "burst_start": None if burst is None else burst.isoformat(),
        "delay_from_burst_min": minutes_from(burst),
        "news_day_flagged": bool(news),
    }


def _first_report(engine: Engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp | None:
    """Time of the first post classified as an outage report in [start, end]."""
    from sqlalchemy import and_, func, select

    p, r = store.posts, store.predictions
    join = p.join(r, and_(r.c.source == p.c.source, r.c.post_id == p.c.id))
    query = (
        select(func.min(p.c.created_at))
        .select_from(join)
        .where(r.c.is_outage, p.c.created_at >= start.to_pydatetime(), p.c.created_at <= end.to_pydatetime())
    )
    with engine.connect() as conn:
        first = conn.execute(query).scalar()
    if first is None:
        return None
    stamp = pd.Timestamp(first)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp


def format_free(result: dict[str, Any]) -> str:
    """The incidents found over the year, then the two checks."""
    lines = [f"{'start':<26} {'detected_at':<26} {'end':<26} {'peak':>5} {'expected':>9}  level     fired on"]
    for i in result["incidents"]:
        lines.append(
            f"{i['start']:<26} {i['detected_at']:<26} {i['end']:<26} {i['peak_count']:>5} "
            f"{i['expected_at_peak']:>9.2f}  {i['level']:<9} {', '.join(i['series'])}"
        )
    if result["delay_min"] is None:
        delay = "n/a"
    else:
        delay = (
            f"{result['delay_from_burst_min']:.0f} min after the burst began at {result['burst_start']}, "
            f"{result['delay_min']:.0f} min after the first report at {result['first_report']}"
        )
    lines.append(f"2024-07-19 TV outage found: {result['outage_found']} ({delay})")
    lines.append(f"2024-10-22 data-breach news day flagged: {result['news_day_flagged']}")
    return "\n".join(lines)


def read_day(day_file: Path) -> pd.DataFrame:
    """The written outage day (`data/devday/x-outage-day.jsonl`, timed by its builder), times in UTC."""
    if not day_file.is_file():
        raise BadInput(f"{day_file}: no such file (build it with data/devday/build_day.py)")
    day = pd.read_json(day_file, lines=True, dtype=False)
    return day.assign(created_at=pd.to_datetime(day["created_at"], utc=True))


def evaluate_day(
    path: Path, db_url: str, model: OutageModel, config: DetectConfig | None = None
) -> dict[str, Any]:
    """A labelled day of posts (JSONL with `id`, `created_at`, `text`, `types`, `phase`; see data/devday)
    through the product: import, classify, detect. Scores outage F1 (overall and per language) and, over the
    labelled outage phase, each type's share of reports as predicted against as labelled."""
    truth = read_day(path)
    engine = classified_store(path, db_url, model, service="x")
    incidents = update_incidents(engine, config=config)["x"]
    predicted = _stored_types(engine).reindex(truth["id"])
    outage = truth[truth["phase"] == "outage"]["created_at"]
    window = (truth["created_at"] >= outage.min()) & (truth["created_at"] <= outage.max())
    true_types = truth.set_index("id")["types"]
    shares = {
        "labelled": _shares(true_types[window.to_numpy()]),
        "predicted": _shares(predicted[window.to_numpy()]),
    }
    f1 = {"all": _outage_f1(true_types, predicted)}
    f1 |= {
        lang: _outage_f1(true_types[(truth["lang"] == lang).to_numpy()], predicted) for lang in ("fr", "en")
    }
    hits = [i for i in incidents if i.start <= outage.max() and i.end >= outage.min()]
    return {"outage_f1": f1, "shares": shares, "incident": hits[0].to_dict() if hits else None}


def _stored_types(engine: Engine) -> pd.Series:
    """Each stored post's predicted types ([] when not an outage report), by post id."""
    from sqlalchemy import and_, select

    from miner.labels import TYPES

    p, r = store.posts, store.predictions
    flags = [r.c[f"t_{t}"] for t in TYPES]
    query = select(p.c.id, r.c.is_outage, *flags).select_from(
        p.join(r, and_(r.c.source == p.c.source, r.c.post_id == p.c.id))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.Series(
        {row[0]: [t for t, on in zip(TYPES, row[2:], strict=True) if on] if row[1] else [] for row in rows}
    )


def _shares(types: pd.Series) -> dict[str, float]:
    """Each type's share of the reports (posts with any type) in `types`."""
    from miner.breakdown import report_shares

    reports = [t for t in types if t]
    counts: dict[str, float] = {}
    for post in reports:
        for label in post:
            counts[label] = counts.get(label, 0) + 1
    return report_shares(counts, len(reports))


def _outage_f1(truth: pd.Series, predicted: pd.Series) -> float:
    """F1 of "is an outage report" over the posts of `truth` (predictions looked up by post id)."""
    actual = truth.map(bool).to_numpy()
    called = predicted.reindex(truth.index).map(bool).to_numpy()
    tp = int((actual & called).sum())
    return 2 * tp / (actual.sum() + called.sum()) if actual.any() or called.any() else 0.0


def format_day(result: dict[str, Any]) -> str:
    """Outage F1, then each type's labelled and predicted share of reports during the outage."""
    from miner.labels import TYPES, kind_of

    f1 = result["outage_f1"]
    lines = [f"outage F1: {f1['all']:.3f} (fr {f1['fr']:.3f}, en {f1['en']:.3f})", ""]
    lines.append(f"{'type':<14} {'kind':<6} {'labelled':>9} {'predicted':>10} {'error':>7}")
    labelled, predicted = result["shares"]["labelled"], result["shares"]["predicted"]
    for label in TYPES:
        a, b = labelled.get(label, 0.0), predicted.get(label, 0.0)
        lines.append(
            f"{label:<14} {kind_of(label):<6} {a * 100:>8.1f}% {b * 100:>9.1f}% {(b - a) * 100:>+6.1f}"
        )
    worst = max(abs(predicted.get(t, 0.0) - labelled.get(t, 0.0)) for t in TYPES) * 100
    lines.append(f"largest share error: {worst:.1f} points")
    incident = result["incident"]
    if incident is None:
        lines.append("incident over the outage: none")
    else:
        lines.append(
            f"incident over the outage: {incident['start']} -> {incident['end']} "
            f"(detected {incident['detected_at']}, {incident['level']})"
        )
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
    day = sub.add_parser("day", help="a labelled day of posts: outage F1 and type shares during the outage")
    day.add_argument("path", type=Path, help="the day's JSONL (e.g. data/devday/x-outage-day.jsonl)")
    day.add_argument("--model", type=Path, default=None, help="model version folder (default models/DEFAULT)")
    for command in (nab, free, day):
        command.add_argument(
            "--sensitivity", default="normal", help="low, normal (default), high, or false alarms per week"
        )
    args = parser.parse_args(argv)
    try:
        config = DetectConfig(false_alarms_per_week=parse_sensitivity(args.sensitivity))
        if args.benchmark == "nab":
            print(format_report(evaluate_nab(args.path, config)))
        elif args.benchmark == "day":
            from miner.classify import load_model

            with tempfile.TemporaryDirectory() as tmp:
                model = load_model(args.model)
                print(format_day(evaluate_day(args.path, f"sqlite:///{tmp}/day.db", model, config)))
        else:
            csv = args.path / "posts.csv" if args.path.is_dir() else args.path
            if not csv.is_file():
                raise BadInput(f"{csv}: no such file")
            with tempfile.TemporaryDirectory() as tmp:
                print(format_free(evaluate_free(csv, f"sqlite:///{tmp}/free.db", args.model, config)))
    except MinerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
