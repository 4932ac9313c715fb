"""`miner detect`: incidents from a count series (CSV) or from the stored classified posts."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from miner.cli import app
from miner.errors import BadInput
from miner.sensitivity import SENSITIVITY_HELP, parse_sensitivity
from miner.services import load_services
from miner.sources.records import parse_time

if TYPE_CHECKING:  # pandas, SciPy and SQLAlchemy: only when a command runs
    import pandas as pd

    from miner.detect import Incident

console = Console(stderr=True)


def read_counts(path: Path, freq: str) -> pd.Series:
    """A `timestamp,value` CSV (the NAB format) on a regular `freq` grid; gaps stay unknown."""
    from miner.evaluate import load_series

    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    return load_series(path).sort_index().resample(freq, origin="start").sum(min_count=1)


def _write_incidents(incidents: list[Incident], output: Path | None) -> None:
    lines = "".join(json.dumps(i.to_dict()) + "\n" for i in incidents)
    if output is None:
        sys.stdout.write(lines)
    else:
        output.write_text(lines, encoding="utf-8")


def _since(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


@app.command("detect")
def detect_cmd(
    counts: Annotated[Path | None, typer.Option(help="CSV of timestamp,value counts (NAB format).")] = None,
    db: Annotated[
        bool, typer.Option("--db", help="Detect on the stored classified posts and store incidents.")
    ] = False,
    freq: Annotated[
        str | None, typer.Option(help="Bin width, e.g. 5min, 15min, 1h (default: the detector's 5min).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="With --counts: JSONL file for incidents (default stdout).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="With --db: only this service.")] = None,
    since: Annotated[
        str | None, typer.Option(help="With --db: only incidents starting at or after this ISO time.")
    ] = None,
    services: Annotated[
        Path | None, typer.Option(help="Services file naming official accounts to exclude.")
    ] = None,
    db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: $MINER_DB_URL or sqlite:///data/miner.db).")
    ] = None,
    sensitivity: Annotated[str | None, typer.Option(help=SENSITIVITY_HELP)] = None,
) -> None:
    """Flag spikes of outage reports as incidents (start, detected_at, peak, end, level, type shares, and
    which series fired: the total or a type).

    Example: miner detect --counts data/nab/Twitter_volume_FB.csv --sensitivity high --output fb.jsonl
    Example: miner detect --db --service free
    """
    if (counts is None) == (not db):
        raise BadInput("give exactly one of --counts FILE or --db")
    from miner import store
    from miner.dashboard.summary import plural
    from miner.detect import DetectConfig, detect
    from miner.incidents import service_configs, update_incidents, with_freq

    config = with_freq(DetectConfig(), freq or DetectConfig.freq)
    rate = None if sensitivity is None else parse_sensitivity(sensitivity)
    if counts is not None:
        config = config if rate is None else replace(config, false_alarms_per_week=rate)
        incidents = detect(read_counts(counts, config.freq), config)
        _write_incidents(incidents, output)
        console.print(f"{plural(len(incidents), 'incident')} in {counts}")
        return
    catalog = load_services(services)
    excluded = {key for s in catalog.services for key in s.official_keys()}
    name = catalog.get(service).name if service else None
    per_service = service_configs(catalog, config, rate)
    found = update_incidents(
        store.connect(db_url),
        service=name,
        since=_since(since),
        config=config,
        excluded_authors=excluded,
        per_service=per_service,
    )
    for svc, incidents in sorted(found.items()):
        outages = sum(i.level == "outage" for i in incidents)
        setting = per_service.get(svc, config).sensitivity
        console.print(
            f"{svc}: {plural(len(incidents), 'incident')} ({outages} at outage level), sensitivity {setting}"
        )
