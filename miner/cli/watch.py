"""`miner watch`: the long-running loop (collect, classify, detect, alert)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from miner.cli import app
from miner.errors import BadInput, MinerError
from miner.sensitivity import SENSITIVITY_HELP, parse_sensitivity
from miner.services import JETSTREAM, SOURCES, load_services

console = Console(stderr=True)


def _interval(every: str) -> float:
    import pandas as pd

    try:
        seconds = pd.Timedelta(every).total_seconds()
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise BadInput(f"--every must be a positive duration such as 2m or 30s, got {every!r}")
    return seconds


def _notifier(url: str | None):
    if url is None:
        return None
    from miner.alerts import send_alert

    def notify(payload: dict[str, Any]) -> None:
        try:
            send_alert(url, payload)
        except MinerError as exc:  # a chat outage must not stop the watcher
            console.print(f"alert not sent: {exc}")

    return notify


@app.command("watch")
def watch_cmd(
    every: Annotated[str, typer.Option(help="Pause between cycles, e.g. 2m, 30s, 1h.")] = "2m",
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help=f"Only these sources ({', '.join((*SOURCES, JETSTREAM))})."),
    ] = None,
    once: Annotated[bool, typer.Option(help="Run one cycle and exit (for cron or a systemd timer).")] = False,
    services: Annotated[
        Path | None, typer.Option(help="Services file (default: data/services.toml).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model version folder (default: models/DEFAULT).")
    ] = None,
    db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: $MINER_DB_URL or data/miner.db).")
    ] = None,
    sensitivity: Annotated[str | None, typer.Option(help=SENSITIVITY_HELP)] = None,
) -> None:
    """Watch every configured service: collect from each usable source, classify new posts, update
    incidents, and post a JSON alert to $MINER_WEBHOOK_URL when an incident starts and when it ends.
    Logs one line per cycle; stop with Ctrl-C. `--source jetstream` listens to Bluesky's live stream
    of every post, with no account, between cycles too (with --once: up to now, then one cycle).

    Example: MINER_WEBHOOK_URL=https://hooks.slack.com/services/... miner watch --every 2m

    Example: miner watch --source jetstream
    """
    from miner import store
    from miner.alerts import webhook_url
    from miner.cli.collect import follow
    from miner.collect import RetryPolicy, jetstream_listener
    from miner.collect.run import usable_sources
    from miner.predict import load_predictor  # heavy (spaCy, numpy): only when watching
    from miner.watch import run_cycle

    pause = _interval(every)
    rate = None if sensitivity is None else parse_sensitivity(sensitivity)
    catalog = load_services(services)
    chosen = sources or usable_sources()
    engine = store.connect(db_url)
    classifier = load_predictor(model)
    notify = _notifier(webhook_url())
    logging.basicConfig(level=logging.WARNING)
    console.print(
        f"watching {len(catalog.services)} services on {', '.join(chosen) or 'no source'}; "
        f"alerts {'on' if notify else 'off (set MINER_WEBHOOK_URL)'}"
    )
    stream = jetstream_listener(engine, catalog) if JETSTREAM in chosen else None
    searched = [s for s in chosen if s != JETSTREAM]
    try:
        heard = ""  # the stream's line since the last cycle
        if stream is not None and once:
            stream.start(until=datetime.now(UTC), attempts=RetryPolicy().attempts)  # catch up to now
            heard = follow(stream)
        elif stream is not None:
            stream.start()  # listens on while the cycles run, reconnecting for ever
        while True:
            report = run_cycle(
                engine, classifier, catalog, sources=searched, notify=notify, sensitivity=rate, stream=stream
            )
            line = f"{report.line()}; {JETSTREAM} {heard}" if heard else report.line()
            console.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z {line}", highlight=False)
            if once:
                return
            if stream is None:
                time.sleep(pause)
            else:
                heard = follow(stream, pause)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        if stream is not None:
            stream.stop()
