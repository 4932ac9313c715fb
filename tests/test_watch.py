"""The watch loop end to end: a local Mastodon, a real small model, a real webhook receiver."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from miner import store
from miner.alerts import send_alert
from miner.classify import OutageModel
from miner.collect.jetstream import REWIND_US
from miner.post import Post
from miner.services import load_services
from miner.watch import run_cycle
from tests.collect.fakes import FakeMastodon, FakeServer, Reply
from tests.collect.jetstream_fake import FakeJetstream, Frame, recorded
from tests.collect.test_cli import SERVICES, run_cli, wait_for
from tests.collect.test_jetstream import EXPECTED as JETSTREAM_EXPECTED
from tests.collect.test_jetstream import SERVICES as JETSTREAM_SERVICES
from tests.test_classify import fit_small, small_corpus
from tests.test_feedback import saved_small_model

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def model() -> OutageModel:
    return fit_small(small_corpus())


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    fake.routes[("POST", "/hook")] = lambda seen: Reply(200, {"ok": True})
    yield fake
    fake.close()


def _outage_texts(model: OutageModel, n: int, seed: int) -> list[str]:
    """Real corpus reports this model also calls outages (the test is about the loop, not the model)."""
    corpus = pd.read_json(Path(__file__).parents[1] / "data/labeled/corpus.jsonl", lines=True)
    candidates = corpus[(corpus["lang"] == "fr") & corpus["types"].map(bool)]["text"].sample(
        300, random_state=seed
    )
    frame = model.predict_frame(candidates.tolist())
    return candidates[frame["is_outage"].to_numpy()].tolist()[:n]


def _posts(texts: list[str], times: list[datetime], prefix: str) -> list[Post]:
    return [
        Post("x", f"{prefix}{i}", texts[i % len(texts)], t, service="free", author=f"anon:{prefix}{i}")
        for i, t in enumerate(times)
    ]


def _quiet(start: datetime, end: datetime, seed: int) -> list[datetime]:
    hours = int((end - start) / timedelta(hours=1))
    minutes = np.random.default_rng(seed).integers(0, 60, size=hours)
    return [start + timedelta(hours=h, minutes=int(m)) for h, m in enumerate(minutes)]


def test_one_alert_at_start_and_one_at_end(engine, model, server: FakeServer, tmp_path: Path) -> None:
    texts = _outage_texts(model, 30, seed=1)
    services = tmp_path / "services.toml"
    services.write_text(SERVICES + 'sensitivity = "high"\n')
    catalog = load_services(services)
    mastodon = FakeMastodon(server, tag="freebox")
    mastodon.add(3)
    history = _posts(texts, _quiet(NOW - timedelta(days=21), NOW - timedelta(hours=1), seed=2), "q")
    burst = _posts(texts, [NOW - timedelta(minutes=40) + timedelta(minutes=i) for i in range(40)], "b")
    with engine.begin() as conn:
        store.insert_posts(conn, history + burst)
    env = {"MASTODON_INSTANCES": server.url}
    hook = f"{server.url}/hook"

    def notify(payload: dict) -> None:
        send_alert(hook, payload)

    first = run_cycle(
        engine, model.predictor(), catalog, sources=["mastodon"], notify=notify, env=env, now=NOW
    )
    assert first.collected == {"mastodon": 3} and first.errors == []
    assert first.classified == len(history) + len(burst) + 3
    assert first.alerts == ["free start"]

    later = NOW + timedelta(hours=5)
    with engine.begin() as conn:
        store.insert_posts(conn, _posts(texts, _quiet(NOW, later, seed=3), "r"))
    second = run_cycle(
        engine, model.predictor(), catalog, sources=["mastodon"], notify=notify, env=env, now=later
    )
    assert second.alerts == ["free end"] and second.collected == {"mastodon": 0}
    third = run_cycle(
        engine, model.predictor(), catalog, sources=["mastodon"], notify=notify, env=env, now=later
    )
    assert third.alerts == []
    low = run_cycle(
        engine, model.predictor(), catalog, sources=[], notify=notify, env=env, now=later, sensitivity=0.25
    )
    assert low.alerts == [] and low.incidents == 1  # the same incident, found at the command line's setting
    with engine.connect() as conn:
        assert conn.execute(select(store.incidents.c.sensitivity)).scalars().all() == ["low"]

    received = [json.loads(s.body) for s in server.seen if s.method == "POST" and s.path == "/hook"]
    assert [r["event"] for r in received] == ["start", "end"]
    start = received[0]
    assert start["service"] == "free" and start["level"] in {"possible", "outage"}
    assert start["text"] == start["content"] and "free" in start["text"]
    assert len(start["quotes"]) == 2 and all(q in texts for q in start["quotes"])
    assert start["incident"]["peak_count"] >= 5
    assert start["incident"]["sensitivity"] == "high" and "reports" in start["incident"]["series"]


def test_a_failing_source_is_reported_and_the_rest_goes_on(engine, model, tmp_path: Path) -> None:
    services = tmp_path / "services.toml"
    services.write_text(SERVICES)
    report = run_cycle(engine, model.predictor(), load_services(services), sources=["x"], env={}, now=NOW)
    assert report.errors and "X_BEARER_TOKEN" in report.errors[0]
    assert report.collected == {} and report.classified == 0
    assert "errors: x:" in report.line()


# --- `miner watch --source jetstream` -------------------------------------------------------------

# `miner watch` in a child process whose store dies between a flush's posts and their checkpoint: the
# process sleeps there, after writing a marker file, until the test kills it with SIGKILL.
KILLED_BETWEEN_STORE_AND_CHECKPOINT = """
import os, time
from sqlalchemy import func, select

from miner import store
from miner.collect.jetstream import REWIND_US
insert, save = store.insert_posts, store.save_checkpoint
seen = {"rows": 0, "commits": 0}

def counting_insert(conn, posts):
    posts = list(posts)
    seen["rows"] = len(posts)
    return insert(conn, posts)

def save_or_hang(conn, source, query, state):
    if source == "jetstream" and seen["rows"]:
        if seen["commits"]:  # posts were committed before: this flush's are inserted, not yet committed
            open(os.environ["MARKER"], "w").close()
            time.sleep(600)
        seen["commits"] += 1
    save(conn, source, query, state)

store.insert_posts, store.save_checkpoint = counting_insert, save_or_hang
import miner.cli.watch
from miner.cli import app
app()
"""


def _event_times(frames: list[Frame]) -> dict[str, int]:
    """time_us of each recorded post, by text."""
    times = {}
    for frame in frames:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            event = json.loads(frame.text)
            times[event["commit"]["record"]["text"]] = event["time_us"]
    return times


def test_watch_jetstream_killed_between_store_and_checkpoint_loses_and_repeats_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path
) -> None:
    model_dir = saved_small_model(tmp_path / "model")
    services = tmp_path / "services.toml"
    services.write_text(JETSTREAM_SERVICES, encoding="utf-8")
    fake = FakeJetstream(recorded())
    fake.pace = 0.15  # the recording takes ~3.5 s: flushes (every 2 s) fall in the middle of it
    marker = tmp_path / "between-store-and-checkpoint"
    args = ["watch", "--source", "jetstream", "--services", str(services), "--db-url", db_url]
    args += ["--model", str(model_dir)]
    monkeypatch.setenv("JETSTREAM_URL", fake.url)
    env = {**os.environ, "MARKER": str(marker)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BETWEEN_STORE_AND_CHECKPOINT, *args, "--every", "1s"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None)
        assert child.poll() is None, "the watcher ended before its second flush of posts"
    finally:
        child.kill()  # SIGKILL, inside the transaction
        child.wait()

    engine = store.connect(db_url)
    try:
        with engine.connect() as conn:
            cursor = store.load_checkpoint(conn, "jetstream", "app.bsky.feed.post")["time_us"]
            before = {text for (text,) in conn.execute(select(store.posts.c.text))}
        times = _event_times(fake.frames)
        expected = {text for _, _, text in JETSTREAM_EXPECTED}
        # exactly the posts up to the committed cursor: the killed flush's posts were rolled back with it
        assert before == {text for text in expected if times[text] <= cursor}
        assert 0 < len(before) < len(expected)

        fake.pace = 0.0
        code, err = run_cli(capsys, *args, "--once", module="miner.cli.watch")
        assert code == 0, err
        assert fake.cursors()[-1] == cursor - REWIND_US  # resumed from the committed cursor
        assert f"collected jetstream={len(expected) - len(before)};" in " ".join(err.split())
        with engine.connect() as conn:
            rows = conn.execute(select(store.posts.c.id, store.posts.c.text)).all()
            classified = conn.execute(select(func.count()).select_from(store.predictions)).scalar_one()
        assert len(rows) == len({i for i, _ in rows}) == len(expected)  # nothing lost, nothing twice
        assert {text for _, text in rows} == expected and classified == len(expected)
    finally:
        engine.dispose()
        fake.close()
