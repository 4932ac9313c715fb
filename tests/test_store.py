"""The store on a real SQLite file: round-trips, idempotent writes, migrations, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, MetaData, Table, func, inspect, select

from miner import store
from miner.labels import TYPES
from miner.post import Post
from tests.stores import PREDICTIONS_V3, as_version_3, version_3_store


def _post(i: int, **kw) -> Post:
    base = {
        "source": "x",
        "id": str(i),
        "text": f"twitter est en panne {i} 🙃",
        "created_at": datetime(2024, 7, 19, 17, i % 60, tzinfo=UTC),
    }
    return Post(**(base | kw))


def test_round_trip_keeps_every_field(engine) -> None:
    post = Post(
        source="bluesky",
        id="at://did:plc:abc/app.bsky.feed.post/3k",
        text="l'appli plante encore\nsur iOS",
        created_at=datetime(2024, 7, 19, 19, 5, 30, tzinfo=timezone(timedelta(hours=2))),
        service="instagram",
        lang="fr",
        author="anon:0123456789abcdef",
        url="https://bsky.app/profile/x/post/3k",
        likes=3,
        reposts=0,
        replies=None,
        raw={"nested": {"a": [1, 2]}, "lang": "fr"},
    )
    with engine.begin() as conn:
        assert store.insert_posts(conn, [post]) == 1
    with engine.connect() as conn:
        (row,) = conn.execute(select(store.posts)).all()
    back = store.row_to_post(row)
    assert back == Post(**_as_utc(post))
    assert back.created_at.tzinfo is not None
    assert back.created_at == datetime(2024, 7, 19, 17, 5, 30, tzinfo=UTC)


def _as_utc(post: Post) -> dict:
    fields = {f: getattr(post, f) for f in post.__slots__}
    fields["created_at"] = post.created_at.astimezone(UTC)
    return fields


def test_reinserting_never_duplicates(engine) -> None:
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(1), _post(2), _post(2)]) == 2
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(2), _post(3)]) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 3


def test_batches_in_one_transaction_count_only_their_own_new_posts(engine) -> None:
    """A collector stores several pages in one transaction: PostgreSQL's staging table starts each empty."""
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(1), _post(2)]) == 2
        assert store.insert_posts(conn, [_post(2), _post(3)]) == 1
        assert store.insert_posts(conn, []) == 0
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(3), _post(4)]) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 4


def test_same_id_in_another_source_is_another_post(engine) -> None:
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(1), _post(1, source="mastodon")]) == 2


def test_large_batches_are_split_and_counted(engine) -> None:
    many = [_post(i) for i in range(store.WRITE_BATCH * 2 + 7)]
    with engine.begin() as conn:
        assert store.insert_posts(conn, many) == len(many)
    with engine.begin() as conn:
        assert store.insert_posts(conn, many) == 0


def test_schema_is_versioned_and_migrate_is_idempotent(engine) -> None:
    assert store.migrate(engine) == len(store.MIGRATIONS)
    with engine.connect() as conn:
        assert store.current_version(conn) == len(store.MIGRATIONS)
        assert conn.execute(select(func.count()).select_from(store.schema_version)).scalar() == 1


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    with store.connect(f"sqlite:///{tmp_path / 'wal.db'}").connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_checkpoint_upsert(engine) -> None:
    with engine.begin() as conn:
        assert store.load_checkpoint(conn, "x", "q") == {}
        store.save_checkpoint(conn, "x", "q", {"since_id": "10"})
        store.save_checkpoint(conn, "x", "q", {"since_id": "12"})
        store.save_checkpoint(conn, "x", "other", {"since_id": "1"})
    with engine.connect() as conn:
        assert store.load_checkpoint(conn, "x", "q") == {"since_id": "12"}


def test_rolled_back_transaction_keeps_posts_and_checkpoint_together(engine) -> None:
    try:
        with engine.begin() as conn:
            store.insert_posts(conn, [_post(1)])
            store.save_checkpoint(conn, "x", "q", {"since_id": "1"})
            raise RuntimeError("killed mid-page")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 0
        assert store.load_checkpoint(conn, "x", "q") == {}


def test_db_url_prefers_argument_then_environment(monkeypatch) -> None:
    monkeypatch.setenv("MINER_DB_URL", "postgresql+psycopg://u@127.0.0.1/db")
    assert store.db_url("sqlite:///a.db") == "sqlite:///a.db"
    assert store.db_url() == "postgresql+psycopg://u@127.0.0.1/db"
    monkeypatch.delenv("MINER_DB_URL")
    assert store.db_url() == store.DEFAULT_DB_URL


def test_a_version_1_database_is_upgraded_in_place(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = store.create_engine(url)
    with old.begin() as conn:
        store.metadata.create_all(conn, tables=[store.schema_version])
        store.MIGRATIONS[0](conn)
        conn.execute(store.schema_version.insert().values(version=1))
        store.insert_posts(conn, [_post(1)])
    engine = store.connect(url)
    with engine.connect() as conn:
        assert store.current_version(conn) == len(store.MIGRATIONS)
        assert conn.dialect.has_table(conn, "feedback")
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 1


def test_a_version_2_database_gains_the_incident_series_and_sensitivity(db_url: str) -> None:
    old = store.create_engine(db_url)
    before = [c for c in store.incidents.columns if c.name not in {"series", "sensitivity"}]
    legacy = Table(
        "incidents",
        MetaData(),
        *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in before),
    )
    with old.begin() as conn:
        store.metadata.create_all(conn, tables=[store.schema_version, store.posts, store.feedback])
        store.metadata.create_all(conn, tables=[store.predictions, store.checkpoints])
        legacy.create(conn)
        conn.execute(store.schema_version.insert().values(version=2))
        at = datetime(2024, 7, 19, 18, 5, tzinfo=UTC)
        row = {"service": "free", "start": at, "detected_at": at, "peak": at, "end": at, "peak_count": 13.0}
        conn.execute(
            legacy.insert(),
            [row | {"expected_at_peak": 0.05, "level": "outage", "model_version": "m1", "updated_at": at}],
        )
    old.dispose()
    engine = store.connect(db_url)
    with engine.connect() as conn:
        assert store.current_version(conn) == len(store.MIGRATIONS)
        stored = conn.execute(select(store.incidents)).one()
    assert stored.service == "free" and stored.series is None and stored.sensitivity is None
    store.migrate(engine)  # idempotent
    engine.dispose()


def test_dialects_without_on_conflict_use_the_lookup_path(engine, monkeypatch) -> None:
    monkeypatch.setattr(store, "UPSERT_DIALECTS", {})
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(1), _post(2)]) == 2
    with engine.begin() as conn:
        assert store.insert_posts(conn, [_post(2), _post(3)]) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 3


def _prediction(post_id: str) -> dict:
    flags = {f"t_{t}": False for t in TYPES} | {f"p_{t}": 0.0 for t in TYPES}
    output = {"lang": "fr", "is_outage": False, "outage_prob": 0.1, **flags}
    return store.prediction_row(_post(int(post_id)), output, "m", datetime(2024, 7, 19, tzinfo=UTC))


KEY = ("source", "post_id", "model_version")


def test_two_writers_of_the_same_predictions_do_not_collide(engine, monkeypatch) -> None:
    with engine.begin() as conn:
        assert store.insert_new(conn, store.predictions, [_prediction("1"), _prediction("2")], KEY) == 2
        assert store.insert_new(conn, store.predictions, [_prediction("2"), _prediction("3")], KEY) == 1
    monkeypatch.setattr(store, "UPSERT_DIALECTS", {})
    with engine.begin() as conn:
        assert store.insert_new(conn, store.predictions, [_prediction("3"), _prediction("4")], KEY) == 1
        assert store.insert_new(conn, store.predictions, [], KEY) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.predictions)).scalar() == 4


def test_a_version_3_database_gains_the_report_columns_and_index(db_url: str) -> None:
    old = version_3_store(db_url)
    with old.begin() as conn:
        store.insert_posts(conn, [_post(1, service="free", lang="fr"), _post(2, service="sfr", lang="en")])
        rows = [_prediction("1"), _prediction("2") | {"lang": ""}, _prediction("3")]  # 3: its post is gone
        conn.execute(PREDICTIONS_V3.insert(), as_version_3(rows))
    old.dispose()
    engine = store.connect(db_url)
    with engine.connect() as conn:
        assert store.current_version(conn) == len(store.MIGRATIONS)
        found = conn.execute(select(store.predictions).order_by(store.predictions.c.post_id)).all()
        indexes = {i["name"] for i in inspect(conn).get_indexes("predictions")}
        key = inspect(conn).get_pk_constraint("predictions")
    assert [(r.post_id, r.service, r.lang) for r in found] == [("1", "free", "fr"), ("2", "sfr", "en")]
    stamps = [r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC) for r in found]
    assert stamps == [_post(1).created_at, _post(2).created_at]
    assert {i.name for i in store.predictions.indexes} <= indexes
    assert key["constrained_columns"] == ["source", "post_id", "model_version"]
    assert key["name"] in (None, "predictions_pkey")  # SQLite names none; PostgreSQL as when created fresh
    store.migrate(engine)  # idempotent
    with engine.begin() as conn:  # today's writers write the migrated table
        newer = _prediction("1") | {"model_version": "m2"}
        assert store.insert_new(conn, store.predictions, [newer], KEY) == 1
    engine.dispose()
