"""X specifics: what tweepy sends (through the redirect to the local server) and X's own errors."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from miner import store
from miner.collect import Query, collect
from miner.collect.x import XCollector
from miner.errors import SourceError
from tests.collect.conftest import X_TOKEN, Waits
from tests.collect.fakes import FakeServer, FakeX, Reply

QUERY = Query("free", "(freebox OR @free) panne -is:retweet (lang:fr OR lang:en)")


@pytest.fixture
def x(server: FakeServer, waits: Waits):
    collector = XCollector(X_TOKEN, base_url=server.url, policy=waits.policy())
    yield collector
    collector.close()


def test_recent_search_is_called_as_documented(
    sqlite_engine: Engine, server: FakeServer, x: XCollector
) -> None:
    FakeX(server).add(1)
    collect(sqlite_engine, x, QUERY)
    seen = server.seen[0]
    assert seen.path == "/2/tweets/search/recent"
    assert seen.headers["authorization"] == f"Bearer {X_TOKEN}"
    assert seen.params["query"] == QUERY.text and seen.params["max_results"] == "100"
    assert seen.params["expansions"] == "author_id" and seen.params["user.fields"] == "username"
    assert set(seen.params["tweet.fields"].split(",")) >= {"created_at", "lang", "public_metrics"}


def test_the_handle_and_author_id_are_not_stored(
    sqlite_engine: Engine, server: FakeServer, x: XCollector
) -> None:
    tweet_id = FakeX(server).add(1)[0]
    collect(sqlite_engine, x, QUERY)
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(store.posts)).one()
    assert row.url == f"https://x.com/i/web/status/{tweet_id}"
    assert "author_id" not in row.raw and "camille" not in str(row.raw)
    assert row.author.startswith("anon:")


def test_a_tweet_whose_author_is_not_expanded_is_kept_without_author(
    sqlite_engine: Engine, server: FakeServer, x: XCollector
) -> None:
    fake = FakeX(server)
    fake.add(1)
    fake.users.clear()
    assert collect(sqlite_engine, x, QUERY).new == 1
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(store.posts.c.author)).scalar() == ""


def test_a_refused_token_names_the_variable_not_the_token(
    sqlite_engine: Engine, server: FakeServer, x: XCollector, waits: Waits
) -> None:
    server.queue.append(Reply(401, {"title": "Unauthorized", "type": "about:blank", "status": 401}))
    with pytest.raises(SourceError, match="X_BEARER_TOKEN") as failure:
        collect(sqlite_engine, x, QUERY)
    assert X_TOKEN not in str(failure.value) and waits.slept == []
