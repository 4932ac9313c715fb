"""Bluesky specifics: anonymous search on the public AppView, app-password login, session expiry."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from miner import store
from miner.collect import Query, collect
from miner.collect.bluesky import BlueskyCollector
from miner.errors import SourceError
from tests.collect.conftest import BSKY_JWT, BSKY_LOGIN, Waits
from tests.collect.fakes import FakeBluesky, FakeServer, Reply

QUERY = Query("free", '"free mobile" panne', "fr")


def logged_in(server: FakeServer, waits: Waits, password: str = BSKY_LOGIN[1]) -> BlueskyCollector:
    return BlueskyCollector(
        handle=BSKY_LOGIN[0], app_password=password, pds_url=server.url, policy=waits.policy()
    )


def test_anonymous_search_asks_the_public_appview(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    FakeBluesky(server).add(1)
    with BlueskyCollector(public_url=server.url, pds_url="http://127.0.0.1:9", policy=waits.policy()) as bsky:
        assert collect(sqlite_engine, bsky, QUERY).new == 1
    seen = server.seen[0]
    assert "authorization" not in seen.headers
    assert seen.params == {"q": QUERY.text, "sort": "latest", "limit": "100", "lang": "fr"}


def test_a_refused_anonymous_search_says_how_to_log_in(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    server.queue.append(
        Reply(403, {"error": "Forbidden", "message": "Request forbidden by administrative rules"})
    )
    bsky = BlueskyCollector(public_url=server.url, policy=waits.policy())
    with bsky, pytest.raises(SourceError, match=r"HTTP 403.*set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD"):
        collect(sqlite_engine, bsky, QUERY)


def test_login_happens_once_and_its_token_is_used(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    fake = FakeBluesky(server, login=BSKY_LOGIN, jwt=BSKY_JWT)
    fake.add(3)
    with logged_in(server, waits) as bsky:
        assert collect(sqlite_engine, bsky, QUERY).new == 3
    logins = [s for s in server.seen if s.path == fake.session_path]
    assert len(logins) == 1
    assert json.loads(logins[0].body) == {"identifier": BSKY_LOGIN[0], "password": BSKY_LOGIN[1]}
    searches = [s for s in server.seen if s.path == fake.search_path]
    assert len(searches) == 2 and all(s.headers["authorization"] == f"Bearer {BSKY_JWT}" for s in searches)


def test_a_wrong_app_password_is_reported_without_echoing_it(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    FakeBluesky(server, login=BSKY_LOGIN, jwt=BSKY_JWT)
    bsky = logged_in(server, waits, password="wrong-SECRET")
    with (
        bsky,
        pytest.raises(SourceError, match="Invalid identifier or password; check BLUESKY_HANDLE") as failure,
    ):
        collect(sqlite_engine, bsky, QUERY)
    assert "wrong-SECRET" not in str(failure.value)


def test_an_expired_session_logs_in_again(sqlite_engine: Engine, server: FakeServer, waits: Waits) -> None:
    fake = FakeBluesky(server, login=BSKY_LOGIN, jwt=BSKY_JWT)
    fake.add(1)
    server.queue.append(Reply(400, {"error": "ExpiredToken", "message": "Token has expired"}))
    with logged_in(server, waits) as bsky:
        assert collect(sqlite_engine, bsky, QUERY).new == 1
    assert [s.path for s in server.seen].count(fake.session_path) == 2


def test_posts_link_by_did_and_keep_no_author_object(
    sqlite_engine: Engine, server: FakeServer, waits: Waits
) -> None:
    FakeBluesky(server).add(1)
    with BlueskyCollector(public_url=server.url, policy=waits.policy()) as bsky:
        collect(sqlite_engine, bsky, QUERY)
    with sqlite_engine.connect() as conn:
        row = conn.execute(select(store.posts)).one()
    assert row.id == "at://did:plc:user1/app.bsky.feed.post/3kabc1"
    assert row.url == "https://bsky.app/profile/did:plc:user1/post/3kabc1"
    assert "author" not in row.raw and "camille1" not in str(row.raw)
