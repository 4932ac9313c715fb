"""`miner collect`: fetch recent posts about one service from X, Bluesky or Mastodon into the store, or
catch up on Bluesky's live stream (Jetstream) for every service."""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from miner.cli import app
from miner.errors import BadInput
from miner.services import JETSTREAM, SOURCES, Catalog
from miner.sources.records import Rejected, parse_time

if TYPE_CHECKING:  # the collectors load HTTP clients and the store SQLAlchemy: only when a command runs
    from miner.collect import CollectSummary
    from miner.collect.jetstream import Counters, Jetstream

console = Console(stderr=True)
# Queries can be 512 characters long; the summary shows their start.
QUERY_DISPLAY_CHARS = 60
# The stream's live line is redrawn this often, with rates over the last RATE_WINDOW redraws (~10 s).
STATUS_EVERY = 1.0
RATE_WINDOW = 10
STREAM_COLUMNS = ("events", "posts", "kept", "matched", "stored", "rejected", "reconnects")


def _show_logs() -> None:
    """Rate-limit waits, retries and rejected records are logged: show them on stderr."""
    logger = logging.getLogger("miner")
    if not logger.handlers:
        logger.addHandler(RichHandler(console=console, show_path=False, markup=False))
        logger.setLevel(logging.INFO)


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except Rejected as exc:
        raise BadInput(f"--since: {exc}") from None


def _summary_table(summaries: list[CollectSummary]) -> Table:
    table = Table(title="Collect summary")
    for col in ("query", "pages", "posts", "new", "duplicates", "rejected"):
        table.add_column(col, justify="left" if col == "query" else "right")
    for s in summaries:
        query = s.query if len(s.query) <= QUERY_DISPLAY_CHARS else s.query[: QUERY_DISPLAY_CHARS - 1] + "…"
        table.add_row(query, *(f"{n:,}" for n in (s.pages, s.posts, s.new, s.duplicates, s.rejected)))
    totals = [
        sum(getattr(s, name) for s in summaries)
        for name in ("pages", "posts", "new", "duplicates", "rejected")
    ]
    table.add_row("[bold]total[/]", *(f"[bold]{n:,}[/]" for n in totals))
    return table


def follow(stream: Jetstream, seconds: float | None = None) -> str:
    """Redraw the stream's live line on stderr until its run ends (or for `seconds`); the line over
    the whole time followed. Re-raises the run's error."""
    from miner.collect.jetstream import status_line

    started = time.monotonic()
    first = recent = (started, stream.snapshot())
    window: deque[tuple[float, Counters]] = deque([first], maxlen=RATE_WINDOW)
    with console.status(f"{JETSTREAM}: connecting…") as status:
        while not stream.wait(STATUS_EVERY):
            recent = (time.monotonic(), stream.snapshot())
            window.append(recent)
            status.update(f"{JETSTREAM}: {status_line(window[0][1], recent[1], recent[0] - window[0][0])}")
            if seconds is not None and recent[0] - started >= seconds:
                break
    recent = (time.monotonic(), stream.snapshot())
    return status_line(first[1], recent[1], recent[0] - first[0])


def _stream_table(counters: Counters) -> Table:
    table = Table(title="Jetstream summary")
    for column in STREAM_COLUMNS:
        table.add_column("fr/en" if column == "kept" else column, justify="right")
    table.add_row(*(f"{getattr(counters, c):,}" for c in STREAM_COLUMNS))
    return table


def _collect_stream(
    catalog: Catalog, service: str | None, since: datetime | None, max_posts: int | None, db_url: str | None
) -> None:
    """Catch up on the stream from the saved cursor (else `since`, else an hour ago) to now."""
    from miner import store
    from miner.collect import RetryPolicy, jetstream_listener

    stream = jetstream_listener(store.connect(db_url), catalog, service)
    _show_logs()
    stream.start(since=since, until=datetime.now(UTC), max_posts=max_posts, attempts=RetryPolicy().attempts)
    try:
        follow(stream)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        stream.stop()
    console.print(_stream_table(stream.snapshot()))


@app.command("collect")
def collect_cmd(
    source: Annotated[
        str, typer.Argument(help=f"{', '.join(SOURCES)}, or {JETSTREAM} (Bluesky's live stream, no account).")
    ],
    service: Annotated[
        str | None,
        typer.Option(
            help="Service name or alias from the services file, e.g. free (jetstream: default all)."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Skip posts older than this (ISO 8601, e.g. 2024-05-01); a first run goes back 7 days "
            "(jetstream: 1 hour)."
        ),
    ] = None,
    max_posts: Annotated[
        int | None, typer.Option(min=1, help="Stop after about this many posts; the next run resumes there.")
    ] = None,
    services: Annotated[
        Path | None, typer.Option(help="Services file (default: $MINER_SERVICES or data/services.toml).")
    ] = None,
    db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: $MINER_DB_URL or sqlite:///data/miner.db).")
    ] = None,
) -> None:
    """Collect recent posts about one service (jetstream: every service) and store them, resuming where
    the last run stopped.

    Credentials come from the environment and are never stored or logged:

    - x: X_BEARER_TOKEN (required; API v2 recent search, last 7 days).

    - bluesky: none required (public AppView, which often refuses search); BLUESKY_HANDLE and
    BLUESKY_APP_PASSWORD (an app password from Settings > App passwords) log in on BLUESKY_PDS_URL
    (default https://bsky.social) and are the reliable way.

    - mastodon: none required for hashtag timelines on MASTODON_INSTANCES (comma-separated, default
    mastodon.social); MASTODON_TOKEN (an access token with read:search/read:statuses on the first
    instance) adds full-text search there.

    - jetstream: none. Reads Bluesky's public stream of every post (JETSTREAM_URL: other ws:// or
    wss:// hosts, comma-separated) from where the last run stopped (a first run: --since, else an hour
    ago) up to now, keeping French and English posts that name a service with an outage word.

    Example: X_BEARER_TOKEN=... miner collect x --service free --max-posts 500

    Example: miner collect jetstream
    """
    from miner import store
    from miner.collect import build_collectors, build_queries, collect_queries, load_services

    since_time = _parse_since(since)
    catalog = load_services(services)
    if source == JETSTREAM:
        _collect_stream(catalog, service, since_time, max_posts, db_url)
        return
    if service is None:
        raise BadInput(f"{source} searches one service at a time: give --service, e.g. --service free")
    queries = build_queries(catalog, service, source)
    collectors = build_collectors(source)
    engine = store.connect(db_url)
    _show_logs()
    try:
        summaries = collect_queries(engine, collectors, queries, max_posts=max_posts, since=since_time)
    finally:
        for collector in collectors:
            collector.close()
    console.print(_summary_table(summaries))
