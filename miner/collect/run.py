"""Run collectors into the store: the loop `miner collect` uses and a `miner watch` loop can reuse.

`collect` stores each page's posts and the checkpoint that follows them in one transaction, so
killing the process at any moment and starting again loses nothing and duplicates nothing.
Credentials come from the environment, read here only: collectors take them as arguments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from miner import store
from miner.collect.base import Collector, Page
from miner.collect.bluesky import DEFAULT_PDS_URL, PUBLIC_APPVIEW_URL, BlueskyCollector
from miner.collect.jetstream import HOSTS, Jetstream, checkpoint_key
from miner.collect.mastodon import DEFAULT_INSTANCE, MastodonCollector
from miner.collect.policy import RetryPolicy
from miner.collect.x import X_API_URL, XCollector
from miner.errors import BadInput, MissingCredentials
from miner.match import Matcher
from miner.services import SOURCES, Catalog, Query

log = logging.getLogger(__name__)

# How far back a first sweep (no saved position yet) reaches unless `since` says otherwise: X's own
# search window, and a bound for Bluesky and Mastodon, whose history would otherwise be walked to its
# very start.
FIRST_SWEEP_LOOKBACK = timedelta(days=7)


@dataclass(slots=True)
class CollectSummary:
    """What one query's run fetched and stored."""

    source: str
    service: str
    query: str
    pages: int = 0
    posts: int = 0  # valid posts fetched
    new: int = 0
    duplicates: int = 0
    rejected: int = 0

    def add(self, page: Page, new: int) -> None:
        self.pages += 1
        self.posts += len(page.posts)
        self.new += new
        self.duplicates += len(page.posts) - new
        self.rejected += len(page.rejected)


def collect(
    engine: Engine,
    collector: Collector,
    query: Query,
    *,
    max_posts: int | None = None,
    since: datetime | None = None,
) -> CollectSummary:
    """Fetch what is new for one query; stops after the page that reaches `max_posts` (the checkpoint
    then resumes there next time) and at posts older than `since` (first sweep: FIRST_SWEEP_LOOKBACK)."""
    key = collector.checkpoint_key(query)
    with engine.connect() as conn:
        checkpoint = store.load_checkpoint(conn, collector.source, key)
    if since is None and not checkpoint.get("since"):
        since = datetime.now(UTC) - FIRST_SWEEP_LOOKBACK
    summary = CollectSummary(collector.source, query.service, key)
    for page in collector.pages(query, checkpoint, since):
        with engine.begin() as conn:
            new = store.insert_posts(conn, page.posts)
            store.save_checkpoint(conn, collector.source, key, page.checkpoint)
        summary.add(page, new)
        log.info(
            "%s %r: page %d, %d posts, %d new, %d rejected",
            collector.source,
            key,
            summary.pages,
            len(page.posts),
            new,
            len(page.rejected),
        )
        if max_posts is not None and summary.posts >= max_posts:
            break
    return summary


def collect_queries(
    engine: Engine,
    collectors: list[Collector],
    queries: list[Query],
    *,
    max_posts: int | None = None,
    since: datetime | None = None,
) -> list[CollectSummary]:
    """Run every query each collector accepts, in order, until `max_posts` posts were fetched in all."""
    summaries: list[CollectSummary] = []
    for collector in collectors:
        for query in (q for q in queries if collector.accepts(q)):
            left = None if max_posts is None else max_posts - sum(s.posts for s in summaries)
            if left is not None and left <= 0:
                return summaries
            summaries.append(collect(engine, collector, query, max_posts=left, since=since))
    return summaries


def _env(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def missing_credentials(source: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why `source` cannot run with this environment, in one line naming the variable; None if it can."""
    env = os.environ if env is None else env
    if source not in SOURCES:
        raise BadInput(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
    if source == "x" and not _env(env, "X_BEARER_TOKEN"):
        return "x needs an API bearer token: set X_BEARER_TOKEN"
    if source == "bluesky" and bool(_env(env, "BLUESKY_HANDLE")) != bool(_env(env, "BLUESKY_APP_PASSWORD")):
        missing = "BLUESKY_APP_PASSWORD" if _env(env, "BLUESKY_HANDLE") else "BLUESKY_HANDLE"
        return f"bluesky login needs a handle and an app password: set {missing}"
    return None


def usable_sources(env: Mapping[str, str] | None = None) -> list[str]:
    """The sources that can run with this environment (Bluesky and Mastodon need no credentials)."""
    return [source for source in SOURCES if missing_credentials(source, env) is None]


def mastodon_instances(env: Mapping[str, str]) -> list[str]:
    """`MASTODON_INSTANCES`, comma-separated; the first is where `MASTODON_TOKEN` belongs."""
    names = [name.strip() for name in _env(env, "MASTODON_INSTANCES").split(",") if name.strip()]
    return names or [DEFAULT_INSTANCE]


def build_collectors(
    source: str, env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None
) -> list[Collector]:
    """The collectors for `source` configured from the environment; MissingCredentials if it cannot run."""
    env = os.environ if env is None else env
    problem = missing_credentials(source, env)
    if problem:
        raise MissingCredentials(problem)
    if source == "x":
        base_url = _env(env, "X_API_URL") or X_API_URL
        return [XCollector(_env(env, "X_BEARER_TOKEN"), base_url=base_url, policy=policy)]
    if source == "bluesky":
        return [
            BlueskyCollector(
                handle=_env(env, "BLUESKY_HANDLE") or None,
                app_password=_env(env, "BLUESKY_APP_PASSWORD") or None,
                public_url=_env(env, "BLUESKY_API_URL") or PUBLIC_APPVIEW_URL,
                pds_url=_env(env, "BLUESKY_PDS_URL") or DEFAULT_PDS_URL,
                policy=policy,
            )
        ]
    token = _env(env, "MASTODON_TOKEN") or None
    instances = mastodon_instances(env)
    return [
        MastodonCollector(url, token=token if i == 0 else None, policy=policy)
        for i, url in enumerate(instances)
    ]


def jetstream_listener(
    engine: Engine, catalog: Catalog, service: str | None = None, env: Mapping[str, str] | None = None
) -> Jetstream:
    """The Bluesky firehose listener for every service (or one), on `JETSTREAM_URL` (comma-separated
    ws:// or wss:// hosts, tried in turn) or Bluesky's public hosts; it needs no credentials."""
    env = os.environ if env is None else env
    hosts = [h.strip() for h in _env(env, "JETSTREAM_URL").split(",") if h.strip()] or list(HOSTS)
    matcher = Matcher(catalog, None if service is None else [service])
    name = None if service is None else catalog.get(service).name
    return Jetstream(engine, matcher, hosts, key=checkpoint_key(name))
