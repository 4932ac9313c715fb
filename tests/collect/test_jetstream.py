"""The Jetstream listener against a real WebSocket server on 127.0.0.1 replaying recorded-layout frames:
what is kept and how it is stored, cursors, reconnections across hosts, bad frames, bounded batches."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select

from miner import store
from miner.collect import RetryPolicy
from miner.collect.jetstream import (
    CHECKPOINT_SOURCE,
    FIRST_LOOKBACK,
    MAX_EVENT_BYTES,
    REWIND_US,
    Counters,
    Jetstream,
    languages,
    read_frame,
    status_line,
)
from miner.errors import BadInput, SourceError
from miner.match import Matcher
from miner.services import Catalog, load_services
from miner.sources.records import Rejected
from tests.collect.jetstream_fake import FakeJetstream, Frame, closed_port_url, micros, post_frame, recorded
from tests.collect.test_cli import run_cli

# The services the recording talks about, with the shipped outage words that matter here.
SERVICES = """
[outage_words]
fr = ["panne", "marche plus", "impossible de", "pas de réseau"]
en = ["down", "not working", "can't", "error"]

[[services]]
name = "x"
terms.fr = ["twitter", "@Support"]
terms.en = ["twitter", "@Support"]

[[services]]
name = "instagram"
terms.fr = ["instagram"]
terms.en = ["instagram"]

[[services]]
name = "facebook"
terms.fr = ["facebook"]
terms.en = ["facebook"]

[[services]]
name = "youtube"
terms.fr = ["youtube"]
terms.en = ["youtube"]

[[services]]
name = "discord"
terms.fr = ["discord"]
terms.en = ["discord"]

[[services]]
name = "spotify"
terms.fr = ["spotify"]
terms.en = ["spotify"]

[[services]]
name = "netflix"
terms.fr = ["netflix"]
terms.en = ["netflix"]

[[services]]
name = "free"
aliases = ["freebox"]
terms.fr = ["freebox"]
terms.en = ["freebox"]

[[services]]
name = "orange"
terms.fr = ["livebox", "orange"]
terms.en = ["livebox"]

[[services]]
name = "sfr"
terms.fr = ["sfr"]
terms.en = ["sfr"]
"""
# What the recording holds for those services: one post each (the first French post is sent twice).
EXPECTED = {
    ("free", "fr", "Ma freebox est encore en panne depuis ce matin 😡 plus de télé ni d'internet"),
    ("youtube", "en", "YouTube is down for anyone else? Videos won't load at all"),
    ("sfr", "fr", "Pas de réseau chez SFR à Lyon depuis une heure"),
    ("discord", "en", "discord is down again, can't send a single message"),
    ("instagram", "fr", "instagram et facebook en panne en même temps ?"),
    ("netflix", "en", "@camille.bsky.social netflix not working on my TV either"),
    ("x", "en", "lol twitter is down, time to touch grass"),
    ("spotify", "fr", "Spotify panne, plus rien ne se lance"),
    ("orange", "fr", "La livebox ne marche plus, impossible de me connecter"),
}
# Cut mid-JSON, a JSON array, a create without its record, an unparseable createdAt, no time_us.
RECORDED_REJECTS = 5
T = TypeVar("T")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path = tmp_path_factory.mktemp("services") / "services.toml"
    path.write_text(SERVICES, encoding="utf-8")
    return load_services(path)


@pytest.fixture
def services_file(catalog: Catalog) -> Path:
    return catalog.path


@pytest.fixture
def frames() -> list[Frame]:
    return recorded()


@pytest.fixture
def jetstream(frames: list[Frame]) -> Iterator[FakeJetstream]:
    fake = FakeJetstream(frames)
    yield fake
    fake.close()


@pytest.fixture
def second(frames: list[Frame]) -> Iterator[FakeJetstream]:
    """Another host serving the same stream."""
    fake = FakeJetstream(frames)
    yield fake
    fake.close()


def listener(engine: Engine, catalog: Catalog, *hosts: str, **options: Any) -> Jetstream:
    """A listener with a fast backoff (the waits themselves are not what these tests check)."""
    return Jetstream(engine, Matcher(catalog), list(hosts), policy=RetryPolicy(base_delay=0.01), **options)


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(store.posts).order_by(store.posts.c.created_at)).all()


def kept(engine: Engine) -> set[tuple[str, str, str]]:
    rows = stored(engine)
    assert len({(r.source, r.id) for r in rows}) == len(rows)
    return {(r.service, r.lang, r.text) for r in rows}


def checkpoint(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return store.load_checkpoint(conn, CHECKPOINT_SOURCE, "app.bsky.feed.post")


def at(url: str, read: Callable[[Engine], T]) -> T:
    """`read` on the database at `url` (what a CLI run left there)."""
    engine = store.connect(url)
    try:
        return read(engine)
    finally:
        engine.dispose()


def recorded_event(frames: list[Frame], text: str) -> dict[str, Any]:
    """The recorded event of the post with this text."""
    for frame in frames:
        if text in str(frame.text):
            return json.loads(frame.text)
    raise AssertionError(text)


def test_the_recording_becomes_one_post_per_matched_event(
    engine: Engine, catalog: Catalog, jetstream: FakeJetstream, frames: list[Frame]
) -> None:
    started = datetime.now(UTC)
    counters = listener(engine, catalog, jetstream.url).run(until=started, attempts=2)
    assert kept(engine) == EXPECTED
    assert (counters.posts, counters.kept, counters.matched) == (15, 13, 10)  # 10 matches: one sent twice
    assert (counters.stored, counters.rejected, counters.reconnects) == (9, RECORDED_REJECTS, 0)

    event = recorded_event(frames, "Ma freebox est encore en panne")
    did, rkey, record = event["did"], event["commit"]["rkey"], event["commit"]["record"]
    free = next(r for r in stored(engine) if r.service == "free")
    assert free.source == "bluesky" and free.id == f"at://{did}/app.bsky.feed.post/{rkey}"
    assert free.url == f"https://bsky.app/profile/{did}/post/{rkey}"
    assert free.author.startswith("anon:") and did not in free.author  # the DID, pseudonymised
    created = free.created_at if free.created_at.tzinfo else free.created_at.replace(tzinfo=UTC)
    assert created.isoformat(timespec="milliseconds").replace("+00:00", "Z") == record["createdAt"]
    assert free.raw["time_us"] == event["time_us"] and free.raw["commit"]["record"] == record

    (asked,) = jetstream.subscriptions
    assert asked["path"] == "/subscribe" and asked["wantedCollections"] == "app.bsky.feed.post"
    assert asked["maxMessageSizeBytes"] == str(MAX_EVENT_BYTES)
    lookback = [micros(moment - FIRST_LOOKBACK) for moment in (started, datetime.now(UTC))]
    assert lookback[0] <= int(asked["cursor"]) <= lookback[1]  # a first run starts an hour back
    saved = checkpoint(engine)
    assert saved == {"time_us": counters.cursor, "host": jetstream.url}
    assert saved["time_us"] >= micros(started)  # caught up: the first live event at or after the start


def test_a_second_run_resumes_from_the_saved_cursor(
    engine: Engine, catalog: Catalog, jetstream: FakeJetstream, frames: list[Frame]
) -> None:
    first = listener(engine, catalog, jetstream.url).run(max_posts=3, attempts=2)
    assert first.matched == 3 and len(stored(engine)) == 3
    third = recorded_event(frames, "Pas de réseau chez SFR")  # the third match
    assert checkpoint(engine)["time_us"] == third["time_us"]

    again = listener(engine, catalog, jetstream.url).run(until=datetime.now(UTC), attempts=2)
    assert jetstream.cursors()[1] == third["time_us"] - REWIND_US
    assert kept(engine) == EXPECTED
    assert again.stored == 6  # the first run's three, replayed by the rewind, are not stored again


def test_since_skips_what_is_older_even_after_a_saved_cursor(
    sqlite_engine: Engine, catalog: Catalog, jetstream: FakeJetstream, frames: list[Frame]
) -> None:
    listener(sqlite_engine, catalog, jetstream.url).run(max_posts=1, attempts=2)
    twitter = recorded_event(frames, "lol twitter is down")
    since = datetime.fromtimestamp(twitter["time_us"] / 1e6, tz=UTC)
    listener(sqlite_engine, catalog, jetstream.url).run(since=since, until=datetime.now(UTC), attempts=2)
    assert jetstream.cursors()[1] == micros(since)  # later than the saved cursor: from there exactly
    assert {service for service, _, _ in kept(sqlite_engine)} == {"free", "x", "spotify", "orange"}


def test_a_dropped_connection_resumes_from_the_cursor_on_the_next_host(
    sqlite_engine: Engine, catalog: Catalog, jetstream: FakeJetstream, second: FakeJetstream
) -> None:
    jetstream.refuse = 1  # the first host answers 503 once
    second.cut_after = [6]  # the second cuts the TCP connection after six frames
    stream = listener(sqlite_engine, catalog, jetstream.url, second.url)
    counters = stream.run(until=datetime.now(UTC), attempts=3)
    sixth = second.frames[5]
    origin = second.cursors()[0]
    assert jetstream.cursors() == [origin, sixth.time_us - REWIND_US]  # back on the first host, rewound
    assert counters.reconnects == 2
    assert kept(sqlite_engine) == EXPECTED  # nothing lost, nothing twice


def test_a_silent_connection_is_given_up_for_the_next_host(
    sqlite_engine: Engine,
    catalog: Catalog,
    jetstream: FakeJetstream,
    second: FakeJetstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("miner.collect.jetstream.STALL_SECONDS", 0.3)
    jetstream.live = False  # sends the recording, then nothing: stuck
    stream = listener(sqlite_engine, catalog, jetstream.url, second.url, flush_seconds=0.2)
    counters = stream.run(until=datetime.now(UTC), attempts=2)
    last = max(f.time_us for f in jetstream.frames)
    assert counters.reconnects == 1 and second.cursors() == [last - REWIND_US]
    assert kept(sqlite_engine) == EXPECTED


def test_every_host_down_is_one_clear_error(sqlite_engine: Engine, catalog: Catalog) -> None:
    hosts = [closed_port_url(), closed_port_url()]
    with pytest.raises(SourceError, match=r"^jetstream: ws://127\.0\.0\.1:\d+: .*gave up after 3 failed"):
        listener(sqlite_engine, catalog, *hosts).run(attempts=3)
    assert stored(sqlite_engine) == [] and checkpoint(sqlite_engine) == {}


def test_a_bad_host_address_is_one_clear_error(sqlite_engine: Engine, catalog: Catalog) -> None:
    with pytest.raises(BadInput, match=re.escape("'https://example.org' is not a ws:// or wss:// address")):
        listener(sqlite_engine, catalog, "https://example.org")


def test_pending_posts_are_committed_in_bounded_batches(
    sqlite_engine: Engine, catalog: Catalog, jetstream: FakeJetstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    insert = store.insert_posts
    monkeypatch.setattr(
        store, "insert_posts", lambda conn, posts: batches.append(len(posts)) or insert(conn, posts)
    )
    listener(sqlite_engine, catalog, jetstream.url, flush_posts=2, flush_seconds=3600).run(
        until=datetime.now(UTC), attempts=2
    )
    assert max(batches) == 2 and sum(batches) == 10  # ten matches, never more than two held
    assert kept(sqlite_engine) == EXPECTED


def test_bad_events_are_rejected_and_the_posts_around_them_kept(
    sqlite_engine: Engine, catalog: Catalog
) -> None:
    now = micros(datetime.now(UTC))
    t = [now - 60_000_000 + i * 1000 for i in range(10)]
    good = [post_frame(t[0], "3lgood0000001", "freebox en panne", ["fr"])]
    bad = [
        post_frame(t[1], "3lhuge0000001", "freebox en panne " + "x" * 60_000, ["fr"]),  # over 50,000 chars
        post_frame(t[2], "3lnodid000001", "freebox en panne", ["fr"], did="not a did"),
        post_frame(t[3], "3llong0000001", "freebox en panne", ["fr"], did="did:web:" + "a" * 120),
        post_frame(now + 86_400_000_000, "3lfuture00001", "freebox en panne", ["fr"]),  # time_us ahead
        Frame(t[4], b"\xff\xfe not utf-8"),
        Frame(t[5], json.dumps({"time_us": t[5], "kind": "commit", "commit": "nope"})),
    ]
    good.append(post_frame(t[6], "3lgood0000002", "youtube down again", ["en-GB"]))
    fake = FakeJetstream([good[0], *bad, good[1]])
    try:
        counters = listener(sqlite_engine, catalog, fake.url).run(max_posts=2, attempts=2)
    finally:
        fake.close()
    assert kept(sqlite_engine) == {
        ("free", "fr", "freebox en panne"),
        ("youtube", "en", "youtube down again"),
    }
    assert counters.rejected == 6
    assert checkpoint(sqlite_engine)["time_us"] == t[6]  # the future stamp never became the cursor


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ('{"time_us": 1733', "not JSON"),
        ("[]", "a JSON list, not an object"),
        ('{"kind": "commit"}', "time_us None is not a microsecond timestamp"),
        ('{"time_us": true}', "time_us True is not"),
        ('{"time_us": 1700}', "time_us 1700 is not"),  # seconds, not microseconds
        (b"\xc3\x28", "not UTF-8"),
    ],
)
def test_unreadable_frames_say_why(frame: str | bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        read_frame(frame, micros(datetime.now(UTC)))


def test_languages_are_the_fr_and_en_among_the_tags() -> None:
    assert languages(["fr-FR", "EN", "de", 3, "fr"]) == ["fr", "en"]
    assert languages(None) == [] and languages("fr") == [] and languages(["pt-BR"]) == []


def test_the_live_line() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    before = Counters(posts=100, kept=40, matched=1)
    after = Counters(posts=1100, kept=540, matched=6, stored=4, cursor=micros(now - timedelta(seconds=2)))
    assert status_line(before, after, 10, now) == (
        "seen 100.0/s · fr/en 50.0/s · matched 0.50/s · stored 4 · live"
    )
    late = Counters(stored=4, rejected=2, reconnects=1, cursor=micros(now - timedelta(minutes=3, seconds=5)))
    assert status_line(late, late, 10, now).endswith(
        "stored 4 · 3 min 05 s behind · 2 rejected · 1 reconnects"
    )


def test_collect_jetstream_end_to_end(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    jetstream: FakeJetstream,
    services_file: Path,
    db_url: str,
) -> None:
    monkeypatch.setenv("JETSTREAM_URL", f" {jetstream.url} ")
    args = ["collect", "jetstream", "--services", str(services_file), "--db-url", db_url]
    code, err = run_cli(capsys, *args)
    assert code == 0, err
    said = " ".join(err.split())
    assert "Jetstream summary" in said and "rejected a frame: frame is not JSON" in said  # one line each
    assert at(db_url, kept) == EXPECTED
    saved = at(db_url, checkpoint)["time_us"]
    code, err = run_cli(capsys, *args)  # a second run resumes at the cursor: nothing new to store
    assert code == 0, err
    assert jetstream.cursors()[1] == saved - REWIND_US
    assert at(db_url, kept) == EXPECTED


def test_collect_jetstream_for_one_service(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    jetstream: FakeJetstream,
    services_file: Path,
    sqlite_url: str,
) -> None:
    monkeypatch.setenv("JETSTREAM_URL", jetstream.url)
    code, err = run_cli(
        capsys, "collect", "jetstream", "--service", "freebox", "--services", str(services_file),
        "--db-url", sqlite_url,
    )  # fmt: skip
    assert code == 0, err
    assert {service for service, _, _ in at(sqlite_url, kept)} == {"free"}


def test_collect_jetstream_with_every_host_down_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, services_file: Path, sqlite_url: str
) -> None:
    monkeypatch.setenv("JETSTREAM_URL", closed_port_url())
    monkeypatch.setattr("miner.collect.policy.RetryPolicy.backoff", lambda self, attempt: 0.0)
    code, err = run_cli(
        capsys, "collect", "jetstream", "--services", str(services_file), "--db-url", sqlite_url
    )
    assert code == 2
    last = err.splitlines()[-1]  # after the retries' warnings
    assert last.startswith("error: jetstream: ws://127.0.0.1:") and last.endswith("5 failed connections)")
    assert "Traceback" not in err
