"""Fixtures for collector tests: a local API server, a retry policy that records its waits instead of
sleeping, and one ready-made "kit" per source so shared behaviour is tested once for all three."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from miner import store
from miner.collect import Collector, Query, RetryPolicy
from miner.collect.bluesky import BlueskyCollector
from miner.collect.mastodon import MastodonCollector
from miner.collect.x import XCollector
from tests.collect.fakes import FakeBluesky, FakeMastodon, FakeServer, FakeX

CLOCK = float(int(time.time()))  # the policy's fixed "now", so rate-limit waits are exact
X_TOKEN = "x-bearer-SECRET-1234567890"
BSKY_LOGIN = ("camille.bsky.social", "bsky-app-SECRET-pass")
BSKY_JWT = "eyJ-bsky-access-SECRET-jwt"
MASTODON_TOKEN = "masto-SECRET-token-abcdef"
SECRET_VARIABLES = ("X_BEARER_TOKEN", "BLUESKY_HANDLE", "BLUESKY_APP_PASSWORD", "MASTODON_TOKEN")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'collect.db'}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """A SQLite store for the API-behaviour tests, which do not depend on the database; the loop's
    tests (test_run, test_cli) use the shared `engine` and so also run on PostgreSQL."""
    engine = store.connect(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.close()


@dataclass
class Waits:
    """The policy's sleeps, recorded instead of slept."""

    slept: list[float] = field(default_factory=list)

    def policy(self, attempts: int = 3) -> RetryPolicy:
        return RetryPolicy(attempts=attempts, sleep=self.slept.append, clock=lambda: CLOCK)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@dataclass
class Kit:
    """One source wired to the fake server: its collector, a query, the dataset and its quirks."""

    source: str
    server: FakeServer
    collector: Collector
    query: Query
    fake: Any  # FakeX | FakeBluesky | FakeMastodon: add(n), add_malformed()
    page_param: str  # request parameter present only on second and later pages
    since_param: str  # request parameter carrying the previous sweep's newest position
    rate_limit_headers: dict[str, str]  # a 429's headers meaning "retry in 120 s"
    secrets: tuple[str, ...]
    boundary_duplicates: int = 0  # Bluesky's `since` is inclusive: the newest known post comes back


def _x_kit(server: FakeServer, policy: RetryPolicy) -> Kit:
    return Kit(
        source="x",
        server=server,
        collector=XCollector(X_TOKEN, base_url=server.url, policy=policy),
        query=Query("free", "(freebox OR @free) (panne OR down) -is:retweet (lang:fr OR lang:en)"),
        fake=FakeX(server),
        page_param="next_token",
        since_param="since_id",
        rate_limit_headers={
            "x-rate-limit-limit": "60",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(CLOCK) + 120),
        },
        secrets=(X_TOKEN,),
    )


def _bluesky_kit(server: FakeServer, policy: RetryPolicy) -> Kit:
    handle, password = BSKY_LOGIN
    return Kit(
        source="bluesky",
        server=server,
        collector=BlueskyCollector(handle=handle, app_password=password, pds_url=server.url, policy=policy),
        query=Query("free", "freebox panne", "fr"),
        fake=FakeBluesky(server, login=BSKY_LOGIN, jwt=BSKY_JWT),
        page_param="cursor",
        since_param="since",
        rate_limit_headers={
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(CLOCK) + 120),
            "ratelimit-policy": "3000;w=300",
        },
        secrets=(password, BSKY_JWT),
        boundary_duplicates=1,
    )


def _mastodon_kit(server: FakeServer, policy: RetryPolicy) -> Kit:
    reset = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(CLOCK + 120))
    return Kit(
        source="mastodon",
        server=server,
        collector=MastodonCollector(server.url, token=MASTODON_TOKEN, policy=policy),
        query=Query("free", "#freebox"),
        fake=FakeMastodon(server),
        page_param="max_id",
        since_param="since_id",
        rate_limit_headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
        secrets=(MASTODON_TOKEN,),
    )


KITS: dict[str, Callable[[FakeServer, RetryPolicy], Kit]] = {
    "x": _x_kit,
    "bluesky": _bluesky_kit,
    "mastodon": _mastodon_kit,
}


@pytest.fixture(params=list(KITS))
def kit(request: pytest.FixtureRequest, server: FakeServer, waits: Waits) -> Iterator[Kit]:
    """Each source in turn, with three attempts per call and recorded waits."""
    built = KITS[request.param](server, waits.policy())
    yield built
    built.collector.close()


@pytest.fixture(autouse=True)
def _clean_env_and_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real credentials or hosts leak into these runs; a command's log handler is removed afterwards."""
    for name in (*SECRET_VARIABLES, "X_API_URL", "JETSTREAM_URL"):
        monkeypatch.delenv(name, raising=False)
    logger = logging.getLogger("miner")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record, DEBUG included, from every library (tweepy logs request headers there)."""
    caplog.set_level(logging.DEBUG)
    return caplog
