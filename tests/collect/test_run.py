"""The collection loop and its configuration: atomic pages, budgets, --since, credentials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from miner import store
from miner.collect import (
    Query,
    build_collectors,
    collect,
    collect_queries,
    missing_credentials,
    usable_sources,
)
from miner.collect.bluesky import BlueskyCollector
from miner.collect.mastodon import MastodonCollector
from miner.collect.x import XCollector
from miner.errors import MissingCredentials
from tests.collect.conftest import MASTODON_TOKEN, Waits
from tests.collect.fakes import NOW, FakeMastodon, FakeServer, iso, posted

TAG = Query("free", "#freebox")


def count_posts(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.posts)).scalar_one()


@pytest.fixture
def masto(server: FakeServer, waits: Waits):
    collector = MastodonCollector(server.url, policy=waits.policy())
    yield collector
    collector.close()


def test_posts_and_checkpoint_commit_together(
    engine: Engine, server: FakeServer, masto: MastodonCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeMastodon(server).add(3)
    real_save = store.save_checkpoint
    saves = []

    def dies_on_second_page(conn: Connection, source: str, query: str, state: dict[str, Any]) -> None:
        saves.append(state)
        if len(saves) == 2:
            raise KeyboardInterrupt  # killed after inserting page 2's posts, before its checkpoint
        real_save(conn, source, query, state)

    monkeypatch.setattr(store, "save_checkpoint", dies_on_second_page)
    with pytest.raises(KeyboardInterrupt):
        collect(engine, masto, TAG)
    assert count_posts(engine) == 2  # page 2's insert was rolled back with its checkpoint

    monkeypatch.setattr(store, "save_checkpoint", real_save)
    summary = collect(engine, masto, TAG)
    assert (summary.new, summary.duplicates) == (1, 0) and count_posts(engine) == 3


def test_max_posts_stops_after_the_page_and_the_next_run_resumes(
    engine: Engine, server: FakeServer, masto: MastodonCollector
) -> None:
    FakeMastodon(server).add(5)
    assert collect(engine, masto, TAG, max_posts=1).posts == 2  # whole pages: 2 posts
    with engine.connect() as conn:
        assert store.load_checkpoint(conn, "mastodon", masto.checkpoint_key(TAG))["cursor"]
    assert collect(engine, masto, TAG).new == 3


def test_since_skips_older_posts_and_ends_the_sweep(
    engine: Engine, server: FakeServer, masto: MastodonCollector
) -> None:
    fake = FakeMastodon(server)
    fake.add(5)
    summary = collect(engine, masto, TAG, since=posted(4) - timedelta(seconds=1))
    assert summary.new == 2 and count_posts(engine) == 2
    with engine.connect() as conn:
        state = store.load_checkpoint(conn, "mastodon", masto.checkpoint_key(TAG))
    assert state == {"since": fake.statuses[0]["id"]}  # finished: the next run starts above the newest


def test_a_first_sweep_stops_a_week_back(
    engine: Engine, server: FakeServer, masto: MastodonCollector
) -> None:
    fake = FakeMastodon(server)
    fake.add(2, created_at=iso(NOW - timedelta(days=8)))  # history the collector must not walk
    fake.add(2)
    assert collect(engine, masto, TAG).new == 2
    assert len(server.seen) == 2  # the page holding week-old posts ended the sweep
    assert collect(engine, masto, TAG).new == 0  # later sweeps stop at the saved position instead


def test_collect_queries_shares_the_budget_and_skips_what_a_collector_cannot_run(
    engine: Engine, server: FakeServer, masto: MastodonCollector
) -> None:
    FakeMastodon(server, "freebox").add(3)
    FakeMastodon(server, "freemobile").add(3)
    queries = [TAG, Query("free", "freebox panne", "fr"), Query("free", "#freemobile")]
    summaries = collect_queries(engine, [masto], queries, max_posts=4)
    assert [s.query.split(" ", 1)[1] for s in summaries] == ["#freebox", "#freemobile"]  # no token: no search
    assert [s.posts for s in summaries] == [3, 2]  # 3 from the first, then one page of the second


def test_credentials_come_from_the_environment() -> None:
    assert usable_sources({}) == ["bluesky", "mastodon"]
    assert usable_sources({"X_BEARER_TOKEN": "t"}) == ["x", "bluesky", "mastodon"]
    assert (
        missing_credentials("x", {"X_BEARER_TOKEN": "  "})
        == "x needs an API bearer token: set X_BEARER_TOKEN"
    )
    assert "set BLUESKY_APP_PASSWORD" in missing_credentials("bluesky", {"BLUESKY_HANDLE": "me.bsky.social"})
    assert usable_sources({"BLUESKY_APP_PASSWORD": "p"}) == ["mastodon"]
    with pytest.raises(MissingCredentials, match=r"^x needs an API bearer token: set X_BEARER_TOKEN$"):
        build_collectors("x", {})


def test_build_collectors_configures_each_source() -> None:
    [x] = build_collectors("x", {"X_BEARER_TOKEN": "t", "X_API_URL": "http://127.0.0.1:1"})
    [bsky] = build_collectors("bluesky", {})
    assert isinstance(x, XCollector) and isinstance(bsky, BlueskyCollector)
    assert str(bsky.api.client.base_url) == "https://public.api.bsky.app"
    for collector in (x, bsky):
        collector.close()


def test_the_mastodon_token_goes_only_to_the_first_instance() -> None:
    env = {"MASTODON_INSTANCES": "piaille.fr, mastodon.social", "MASTODON_TOKEN": MASTODON_TOKEN}
    home, other = build_collectors("mastodon", env)
    assert (home.host, other.host) == ("piaille.fr", "mastodon.social")
    assert home.api.client.headers["authorization"] == f"Bearer {MASTODON_TOKEN}"
    assert "authorization" not in other.api.client.headers
    [default] = build_collectors("mastodon", {})
    assert default.host == "mastodon.social"
    for collector in (home, other, default):
        collector.close()
