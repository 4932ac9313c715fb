"""Stored predictions to stored incidents, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Table, func, select

from miner import store
from miner.detect import DetectConfig, count_reports
from miner.errors import BadInput
from miner.incidents import (
    latest_model_version,
    load_reports,
    service_configs,
    service_counts,
    update_incidents,
)
from miner.labels import TYPES
from miner.post import Post
from miner.services import load_services
from tests.stores import migrated_and_fresh, on_both_backends

START = datetime(2024, 7, 1, tzinfo=UTC)
BURST = START + timedelta(days=14, hours=17)


def _prediction(post: Post, outage: bool, types: list[str], version: str = "m1") -> dict:
    output = {"lang": "fr", "is_outage": outage, "outage_prob": 0.9 if outage else 0.1}
    output.update({f"p_{t}": float(t in types) for t in TYPES})
    output.update({f"t_{t}": t in types for t in TYPES})
    return store.prediction_row(post, output, version, datetime.now(UTC))


def _fill(
    engine, burst_authors: int = 40, official: str = "", predictions: Table = store.predictions
) -> None:
    """Three weeks of ~1 report/hour for 'free', with a 17:00-18:00 burst of distinct authors on day 14
    (`predictions`: the table written, `tests.stores.PREDICTIONS_V3` for a version 3 store)."""
    rng = np.random.default_rng(3)
    posts, preds = [], []
    minutes = np.sort(rng.choice(21 * 24 * 60, size=21 * 24, replace=False))
    for i, m in enumerate(minutes):
        posts.append(
            Post(
                "x",
                f"b{i}",
                "plus d'internet",
                START + timedelta(minutes=int(m)),
                service="free",
                author=f"anon:user{i}",
            )
        )
    for i in range(burst_authors):
        posts.append(
            Post(
                "x",
                f"s{i}",
                "écran noir sur toutes les chaînes",
                BURST + timedelta(minutes=i),
                service="free",
                author=official or f"anon:burst{i}",
            )
        )
    preds = [_prediction(p, True, ["feed"] if p.id.startswith("s") else ["connectivity"]) for p in posts]
    with engine.begin() as conn:
        store.insert_posts(conn, posts)
        rows = [{k: v for k, v in p.items() if k in predictions.c} for p in preds]
        conn.execute(predictions.insert(), rows)


def _incidents(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(store.incidents).order_by(store.incidents.c.start)).all()


def test_burst_becomes_one_stored_incident_with_type_shares(engine) -> None:
    _fill(engine)
    found = update_incidents(engine)
    assert list(found) == ["free"]
    (incident,) = found["free"]
    assert BURST - timedelta(minutes=10) <= incident.start.to_pydatetime() <= BURST + timedelta(minutes=10)
    assert incident.detected_at.to_pydatetime() <= BURST + timedelta(minutes=15)
    assert incident.type_shares["feed"] > 0.8
    (row,) = _incidents(engine)
    assert row.service == "free" and row.model_version == "m1" and row.level in {"possible", "outage"}


def test_rerun_is_idempotent(engine) -> None:
    _fill(engine)
    update_incidents(engine)
    update_incidents(engine)
    update_incidents(engine, since=START + timedelta(days=10))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.incidents)).scalar() == 1


def test_official_accounts_are_not_counted(engine) -> None:
    _fill(engine, official="anon:freebox")
    assert update_incidents(engine, excluded_authors={"anon:freebox"})["free"] == []


def test_one_author_posting_many_times_is_one_report(engine) -> None:
    _fill(engine, official="anon:angry")
    assert update_incidents(engine)["free"] == []


def test_span_rows_give_the_full_grid_without_loading_non_reports(engine) -> None:
    _fill(engine, burst_authors=3)
    with engine.connect() as conn:
        frame = load_reports(conn, "m1", "free", None)
    assert frame["is_outage"].sum() == 21 * 24 + 3
    assert (~frame["is_outage"]).sum() == 2
    assert str(frame["created_at"].dt.tz) == "UTC"


def test_streamed_counts_are_the_counts_of_the_loaded_reports(engine, monkeypatch) -> None:
    """Detection streams the reports a few at a time; load_reports + count_reports hold them all."""
    _fill(engine, official="anon:angry")  # one author, many reports: counted once per hour across chunks
    monkeypatch.setattr("miner.incidents.STREAM_ROWS", 7)
    config, since = DetectConfig(), START + timedelta(days=2)
    with engine.connect() as conn:
        loaded = count_reports(load_reports(conn, "m1", None, since), config.freq, {"anon:user3"}, config)
        streamed = dict(service_counts(conn, "m1", None, since, config, {"anon:user3"}))
    assert list(streamed) == ["free"]
    pd.testing.assert_frame_equal(streamed["free"][loaded.columns], loaded.xs("free"), check_names=False)
    assert loaded["feed"].sum() == 1  # the angry author's 40 burst posts, in 40 minutes, count once
    assert loaded["connectivity"].sum() == loaded["reports"].sum() - 1 > 400


def test_latest_model_version_and_missing_predictions(engine) -> None:
    with pytest.raises(BadInput, match="miner classify --db"):
        update_incidents(engine)
    _fill(engine, burst_authors=0)
    with engine.connect() as conn:
        assert latest_model_version(conn) == "m1"


def test_stored_incidents_say_which_series_fired_and_which_setting_found_them(engine) -> None:
    _fill(engine)
    (incident,) = update_incidents(engine, per_service={"free": DetectConfig(false_alarms_per_week=2.0)})[
        "free"
    ]
    assert incident.sensitivity == "2/week" and "feed" in incident.series
    (row,) = _incidents(engine)
    assert row.sensitivity == "2/week" and list(row.series) == list(incident.series)


def test_the_command_line_setting_beats_the_services_file(tmp_path) -> None:
    services = tmp_path / "services.toml"
    services.write_text(
        '[outage_words]\nfr = ["panne"]\n\n'
        '[[services]]\nname = "free"\nterms.fr = ["free"]\nsensitivity = "high"\n\n'
        '[[services]]\nname = "sfr"\nterms.fr = ["sfr"]\n'
    )
    catalog, base = load_services(services), DetectConfig()
    assert {n: c.sensitivity for n, c in service_configs(catalog, base).items()} == {"free": "high"}
    override = service_configs(catalog, base, 0.25)
    assert {n: c.sensitivity for n, c in override.items()} == {"free": "low", "sfr": "low"}
    assert override["free"].freq == base.freq


def _detected(engine) -> tuple[list[dict], list[dict]]:
    """What detection reads from a store and what it finds there."""
    with engine.connect() as conn:
        reports = load_reports(conn, "m1", None, None).sort_values(["created_at", "author", "is_outage"])
    return reports.to_dict("records"), [i.to_dict() for i in update_incidents(engine)["free"]]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_migrated_version_3_store_detects_as_a_fresh_one(kind: str, tmp_path) -> None:
    migrated, fresh = migrated_and_fresh(kind, tmp_path, _fill, _detected)
    assert migrated == fresh


def test_sqlite_and_postgresql_detect_alike(tmp_path) -> None:
    on_sqlite, on_postgresql = on_both_backends(tmp_path, _fill, _detected)
    assert on_sqlite == on_postgresql
    assert len(on_sqlite[0]) == 21 * 24 + 40 + 2 and len(on_sqlite[1]) == 1  # reports, spans; the burst


def test_detection_streams_the_reports_in_flat_memory(tmp_path) -> None:
    """60,000 reports of one author each: counted ten thousand at a time, detection peaks at ~11 MB traced
    whatever their number (holding them, as before, peaked at 38 MB, and 76 MB for twice as many). One
    backend is enough: streaming is a property of the query loop (SQLite also streams its results)."""
    engine = store.connect(f"sqlite:///{tmp_path / 'big.db'}")
    posts = [
        Post("x", f"r{i}", "panne", START + timedelta(seconds=30 * i), service="free", author=f"anon:{i}")
        for i in range(60_000)
    ]
    with engine.begin() as conn:
        store.insert_posts(conn, posts)
        conn.execute(store.predictions.insert(), [_prediction(p, True, ["dm"]) for p in posts])
    tracemalloc.start()
    found = update_incidents(engine)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    assert list(found) == ["free"]
    assert peak < 20 * 1024 * 1024, f"peak traced memory {peak / 1e6:.0f} MB"
