"""The dashboard's SQL on a real store (SQLite, and PostgreSQL when configured): counts, filters, versions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects import postgresql, sqlite

from miner.dashboard import queries as q
from miner.dashboard.queries import Filters, Scope
from miner.labels import TYPES
from tests.dashboard import sample
from tests.stores import migrated_and_fresh, on_both_backends

DAY = pd.Timestamp(sample.NOW) - pd.Timedelta(days=1)
END = pd.Timestamp(sample.NOW) + pd.Timedelta(minutes=5)


@pytest.fixture
def conn(engine: Engine):
    sample.fill(engine)
    with engine.connect() as connection:
        yield connection


def expected_bins(step: str, lang: str = q.ALL, kind: str = q.ALL) -> Counter[pd.Timestamp]:
    """Reports per bin recomputed from the sample in Python, independently of SQL."""
    return Counter(
        pd.Timestamp(r.at).floor(step)
        for r in sample.REPORTS
        if r.service == "free"
        and r.outage
        and DAY <= pd.Timestamp(r.at) < END
        and lang in (q.ALL, r.lang)
        and kind in (q.ALL, *r.types)
    )


def test_model_version_is_the_newest_classification(engine: Engine) -> None:
    with engine.connect() as c:
        assert q.latest_model_version(c) is None
    sample.fill(engine)
    with engine.connect() as c:
        assert q.latest_model_version(c) == sample.MODEL


def test_services_and_post_times(conn) -> None:
    assert q.services(conn) == ["free", "orange"]
    assert q.latest_service(conn) == "free"
    assert q.post_time(conn) == pd.Timestamp(sample.NOW)
    assert q.post_time(conn, "orange") == pd.Timestamp(sample.NOW - timedelta(hours=2))
    assert q.post_time(conn, "orange", first=True) == pd.Timestamp(sample.NOW - timedelta(hours=5))
    assert q.post_time(conn, "nobody") is None


def test_last_ingest_is_when_posts_were_written(conn) -> None:
    assert datetime.now(UTC) - q.last_ingest(conn) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("step", "lang", "kind"), [("5min", q.ALL, q.ALL), ("1h", "en", q.ALL), ("15min", q.ALL, "app")]
)
def test_report_counts_match_the_posts(conn, step: str, lang: str, kind: str) -> None:
    counts = q.report_counts(
        conn, Scope(sample.MODEL, Filters("free", lang, kind), DAY, END), pd.Timedelta(step)
    )
    assert counts["reports"].to_dict() == dict(expected_bins(step, lang, kind))
    assert list(counts.columns) == ["reports", *TYPES]
    assert str(counts.index.tz) == "UTC"


def test_report_counts_per_type(conn) -> None:
    counts = q.report_counts(conn, Scope(sample.MODEL, Filters("free"), DAY, END), pd.Timedelta("1h"))
    assert counts.loc[pd.Timestamp(sample.INCIDENT_START), ["app", "website", "dm"]].tolist() == [25, 10, 0]


def test_type_counts_use_only_the_latest_model(conn) -> None:
    counts = q.type_counts(conn, Scope(sample.MODEL, Filters("free"), DAY, END))
    assert counts[counts > 0].to_dict() == {"reports": 58, "app": 25, "website": 10, "connectivity": 23}
    old = q.type_counts(conn, Scope(sample.OLD_MODEL, Filters("free"), DAY, END))
    assert old[old > 0].to_dict() == {
        "reports": 64,
        "dm": 64,
    }  # the old model called all 64 posts of the day reports


def test_quote_candidates_are_the_most_probable_per_language(conn) -> None:
    found = q.quote_candidates(conn, Scope(sample.MODEL, Filters("free"), DAY, END), per_lang=2)
    assert sorted(zip(found["lang"], found["id"], strict=True)) == [
        ("en", "handle"),
        ("en", "xss"),
        ("fr", "rt1"),
        ("fr", "rt2"),
    ]  # ties: newest first
    assert found["created_at"].dt.tz is not None


def test_reports_are_every_filtered_report_oldest_first(conn) -> None:
    found = q.reports(conn, Scope(sample.MODEL, Filters("free", "en"), DAY, END))
    assert len(found) == 12
    assert found["created_at"].is_monotonic_increasing


def test_incidents_of_the_service_and_model_newest_first(conn) -> None:
    found = q.service_incidents(conn, "free", sample.MODEL)
    assert found["start"].tolist() == [pd.Timestamp(sample.INCIDENT_START), pd.Timestamp(sample.PAST_START)]
    assert found["type_shares"].iloc[1] == {"connectivity": 1.0}
    assert q.service_incidents(conn, "orange", sample.MODEL).empty


def test_is_ready_only_with_the_tables(engine: Engine, tmp_path) -> None:
    with engine.connect() as c:
        assert q.is_ready(c)
    bare = create_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with bare.connect() as c:
        assert not q.is_ready(c)


@pytest.mark.parametrize(
    ("dialect", "present", "absent"),
    [
        (postgresql.dialect(), "FLOOR(EXTRACT(EPOCH FROM predictions.created_at))", "strftime"),
        (sqlite.dialect(), "strftime('%s', predictions.created_at)", "EXTRACT"),
    ],
)
def test_time_bins_compile_per_dialect(dialect, present: str, absent: str) -> None:
    sql = str(
        q.counts_query(Scope("m", Filters("free", "fr", "app"), DAY, END), pd.Timedelta("5min")).compile(
            dialect=dialect
        )
    )
    assert present in sql
    assert absent not in sql


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_migrated_version_3_store_answers_as_a_fresh_one(kind: str, tmp_path) -> None:
    """The same data, stored at version 3 then migrated, or written by today's writers: every query the
    pages run answers the same (and the tests above check those answers against the sample itself)."""
    migrated, fresh = migrated_and_fresh(kind, tmp_path, sample.fill, sample.answers)
    assert migrated == fresh


def test_sqlite_and_postgresql_answer_alike(tmp_path) -> None:
    on_sqlite, on_postgresql = on_both_backends(tmp_path, sample.fill, sample.answers)
    assert on_sqlite == on_postgresql
    assert on_sqlite["model-2 all all"][1]["reports"] > 0  # the comparison is not of empty answers
