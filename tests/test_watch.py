"""The watch loop end to end: a local Mastodon, a real small model, a real webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from miner import store
from miner.alerts import send_alert
from miner.classify import OutageModel
from miner.post import Post
from miner.services import load_services
from miner.watch import run_cycle
from tests.collect.fakes import FakeMastodon, FakeServer, Reply
from tests.collect.test_cli import SERVICES
from tests.test_classify import fit_small, small_corpus

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

    first = run_cycle(engine, model, catalog, sources=["mastodon"], notify=notify, env=env, now=NOW)
    assert first.collected == {"mastodon": 3} and first.errors == []
    assert first.classified == len(history) + len(burst) + 3
    assert first.alerts == ["free start"]

    later = NOW + timedelta(hours=5)
    with engine.begin() as conn:
        store.insert_posts(conn, _posts(texts, _quiet(NOW, later, seed=3), "r"))
    second = run_cycle(engine, model, catalog, sources=["mastodon"], notify=notify, env=env, now=later)
    assert second.alerts == ["free end"] and second.collected == {"mastodon": 0}
    third = run_cycle(engine, model, catalog, sources=["mastodon"], notify=notify, env=env, now=later)
    assert third.alerts == []
    low = run_cycle(engine, model, catalog, sources=[], notify=notify, env=env, now=later, sensitivity=0.25)
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
    report = run_cycle(engine, model, load_services(services), sources=["x"], env={}, now=NOW)
    assert report.errors and "X_BEARER_TOKEN" in report.errors[0]
    assert report.collected == {} and report.classified == 0
    assert "errors: x:" in report.line()
