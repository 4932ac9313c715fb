"""Behaviour every source must have, run against each one's local fake API (see conftest `kit`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from miner import store
from miner.collect import collect
from miner.errors import SourceError
from tests.collect.conftest import Kit, Waits
from tests.collect.fakes import Reply, Seen


def stored_ids(engine: Engine, source: str) -> list[str]:
    with engine.connect() as conn:
        return [r.id for r in conn.execute(select(store.posts.c.id).where(store.posts.c.source == source))]


def saved_checkpoint(engine: Engine, kit: Kit) -> dict[str, Any]:
    with engine.connect() as conn:
        return store.load_checkpoint(conn, kit.source, kit.collector.checkpoint_key(kit.query))


def later_pages(kit: Kit, reply: Reply) -> None:
    """Answer `reply` to every request for a second or later page."""
    kit.server.intercept = lambda seen: reply if kit.page_param in seen.params else None


def test_two_pages_then_a_second_run_fetches_only_new_posts(sqlite_engine: Engine, kit: Kit) -> None:
    kit.fake.add(3)
    first = collect(sqlite_engine, kit.collector, kit.query)
    assert (first.posts, first.new, first.duplicates, first.rejected) == (3, 3, 0, 0)
    assert first.pages >= 2 and kit.page_param in kit.server.seen[-1].params  # Mastodon ends on an empty page
    state = saved_checkpoint(sqlite_engine, kit)
    assert state["since"] and "cursor" not in state  # a finished sweep keeps only its newest position

    kit.fake.add(2)
    before = len(kit.server.seen)
    second = collect(sqlite_engine, kit.collector, kit.query)
    assert kit.server.seen[before].params[kit.since_param] == state["since"]
    assert (second.new, second.duplicates) == (2, kit.boundary_duplicates)
    ids = stored_ids(sqlite_engine, kit.source)
    assert len(ids) == len(set(ids)) == 5


def test_a_crash_between_pages_loses_nothing_and_duplicates_nothing(sqlite_engine: Engine, kit: Kit) -> None:
    kit.fake.add(3)
    later_pages(kit, Reply(drop=True))  # the connection dies whenever page 2 is asked for
    with pytest.raises(SourceError, match="network error"):
        collect(sqlite_engine, kit.collector, kit.query)
    assert (
        len(stored_ids(sqlite_engine, kit.source)) == 2
    )  # page 1 and its checkpoint were committed together
    assert saved_checkpoint(sqlite_engine, kit)["cursor"]

    kit.server.intercept = None
    kit.fake.add(1)  # arrives while we were down: newer than the interrupted sweep's start
    resumed = collect(sqlite_engine, kit.collector, kit.query)
    assert kit.page_param in kit.server.seen[-1].params  # resumed at page 2, did not restart
    assert (resumed.new, resumed.duplicates) == (1, 0)

    caught_up = collect(sqlite_engine, kit.collector, kit.query)
    assert caught_up.new == 1  # the post that arrived meanwhile
    ids = stored_ids(sqlite_engine, kit.source)
    assert len(ids) == len(set(ids)) == 4


def test_a_saved_position_the_api_refuses_starts_a_new_sweep(
    sqlite_engine: Engine, kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    kit.fake.add(3)
    collect(sqlite_engine, kit.collector, kit.query)
    kit.fake.add(1)
    refused = Reply(
        400, {"error": "InvalidRequest", "message": "since is too old", "errors": [{"message": "old"}]}
    )
    kit.server.intercept = lambda seen: refused if kit.since_param in seen.params else None
    again = collect(sqlite_engine, kit.collector, kit.query)
    assert (again.new, again.duplicates) == (1, 3)
    assert "starting a new sweep without the saved position" in caplog.text
    assert saved_checkpoint(sqlite_engine, kit)["since"]


def test_a_429_waits_until_the_reset_the_server_gives(sqlite_engine: Engine, kit: Kit, waits: Waits) -> None:
    kit.fake.add(1)
    kit.server.queue.append(Reply(429, {"error": "RateLimitExceeded"}, headers=kit.rate_limit_headers))
    summary = collect(sqlite_engine, kit.collector, kit.query)
    assert waits.slept == [pytest.approx(121.0)]  # reset 120 s after "now", plus one second of margin
    assert summary.new == 1


def test_a_503_is_retried_with_backoff(sqlite_engine: Engine, kit: Kit, waits: Waits) -> None:
    kit.fake.add(1)
    kit.server.queue.append(Reply(503, "<html>Service Unavailable</html>"))
    summary = collect(sqlite_engine, kit.collector, kit.query)
    assert len(waits.slept) == 1 and 0.5 <= waits.slept[0] <= 1.0  # first backoff: 1 s with jitter
    assert summary.new == 1


def test_a_garbled_body_is_retried(sqlite_engine: Engine, kit: Kit, waits: Waits) -> None:
    kit.fake.add(1)
    kit.server.queue.append(Reply(200, '{"data": [{"id": "1", "te'))
    assert collect(sqlite_engine, kit.collector, kit.query).new == 1
    assert len(waits.slept) == 1


def test_garbage_that_persists_fails_clearly_and_keeps_earlier_pages(sqlite_engine: Engine, kit: Kit) -> None:
    kit.fake.add(3)
    later_pages(kit, Reply(200, "<html>oops</html>"))
    with pytest.raises(SourceError, match=r"not valid JSON.*gave up after 3 attempts"):
        collect(sqlite_engine, kit.collector, kit.query)
    assert len(stored_ids(sqlite_engine, kit.source)) == 2


def test_a_body_of_the_wrong_shape_fails_at_once(sqlite_engine: Engine, kit: Kit, waits: Waits) -> None:
    kit.server.queue.append(Reply(200, '"just a string"'))
    with pytest.raises(SourceError, match="unexpected response"):
        collect(sqlite_engine, kit.collector, kit.query)
    assert waits.slept == []


def test_a_client_error_is_reported_without_retrying(sqlite_engine: Engine, kit: Kit, waits: Waits) -> None:
    body = {
        "error": "InvalidRequest",
        "message": "bad query syntax",
        "errors": [{"message": "bad query syntax"}],
    }
    kit.server.queue.append(Reply(400, body))
    with pytest.raises(SourceError, match=r"400.*bad query syntax"):
        collect(sqlite_engine, kit.collector, kit.query)
    assert waits.slept == []


def test_malformed_records_are_rejected_and_good_ones_kept(sqlite_engine: Engine, kit: Kit) -> None:
    kit.fake.add_malformed()  # good, bad, bad, good (newest last)
    summary = collect(sqlite_engine, kit.collector, kit.query)
    assert (summary.new, summary.rejected) == (2, 2)
    assert len(stored_ids(sqlite_engine, kit.source)) == 2


def test_an_empty_result_is_a_finished_sweep(sqlite_engine: Engine, kit: Kit) -> None:
    summary = collect(sqlite_engine, kit.collector, kit.query)
    assert (summary.pages, summary.posts, summary.new, summary.rejected) == (1, 0, 0, 0)
    assert saved_checkpoint(sqlite_engine, kit) == {"since": None}
    kit.fake.add(2)
    assert collect(sqlite_engine, kit.collector, kit.query).new == 2


def test_posts_are_mapped_and_pseudonymised(sqlite_engine: Engine, kit: Kit) -> None:
    kit.fake.add(1)
    collect(sqlite_engine, kit.collector, kit.query)
    with sqlite_engine.connect() as conn:
        post = store.row_to_post(conn.execute(select(store.posts)).one())
    assert post.service == "free" and post.lang == "fr" and "panne" in post.text
    assert post.author.startswith("anon:") and (post.likes, post.reposts, post.replies) == (3, 2, 1)
    assert post.created_at.tzinfo is not None and post.url.startswith("http")
    assert "camille1" not in repr(post)  # no handle in raw, url or anywhere else


def test_tokens_never_reach_logs_errors_or_the_database(
    sqlite_engine: Engine, sqlite_url: str, kit: Kit, debug_logs: pytest.LogCaptureFixture
) -> None:
    kit.fake.add(3)
    kit.server.queue.append(Reply(503, "busy"))
    collect(sqlite_engine, kit.collector, kit.query)
    later_pages(kit, Reply(drop=True))
    kit.fake.add(3)
    with pytest.raises(SourceError) as failure:
        collect(sqlite_engine, kit.collector, kit.query)
    assert any(_sent_secret(seen, kit.secrets) for seen in kit.server.seen)  # the token was really used
    stored = _everything_stored(sqlite_engine, sqlite_url)
    for secret in kit.secrets:
        assert secret not in debug_logs.text
        assert secret not in str(failure.value) and secret not in repr(failure.value.__cause__)
        assert secret.encode() not in stored


def _everything_stored(engine: Engine, url: str) -> bytes:
    """Every row of every table, plus the SQLite files themselves (WAL included)."""
    with engine.connect() as conn:
        rows = [repr(row) for table in store.metadata.sorted_tables for row in conn.execute(select(table))]
    database = Path(url.removeprefix("sqlite:///"))
    return "\n".join(rows).encode() + b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "*")
    )


def _sent_secret(seen: Seen, secrets: tuple[str, ...]) -> bool:
    return any(s in seen.headers.get("authorization", "") or s.encode() in seen.body for s in secrets)
