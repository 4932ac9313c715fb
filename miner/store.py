"""The store: SQLAlchemy Core tables for posts, predictions, incidents and checkpoints.

Default is a SQLite file (`data/miner.db`, WAL mode so the dashboard reads while a collector
writes); any SQLAlchemy URL in `MINER_DB_URL` works with the same code. Schema changes go
through `MIGRATIONS`: each entry upgrades the schema by one version and `schema_version`
records where a database stands (see README, "Database").
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError

from miner.errors import StoreError
from miner.labels import TYPES
from miner.post import Post

DEFAULT_DB_URL = "sqlite:///data/miner.db"
# A database server answers in milliseconds; without a limit, a dead host holds a command for the operating
# system's TCP timeout (about two minutes) before the error.
CONNECT_TIMEOUT_S = 10
# Posts per INSERT batch: large enough to amortise round trips, small enough for SQLite's
# variable limit when looking up existing keys.
WRITE_BATCH = 500

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

posts = Table(
    "posts",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("service", String(64), nullable=False, default=""),
    Column("text", Text, nullable=False),
    Column("lang", String(8), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("author", String(128), nullable=False, default=""),
    Column("url", Text, nullable=False, default=""),
    Column("likes", Integer),
    Column("reposts", Integer),
    Column("replies", Integer),
    Column("raw", JSON),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Index("ix_posts_service_time", "service", "created_at"),
    Index("ix_posts_time", "created_at"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("post_id", String(128), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("lang", String(8), nullable=False, default=""),
    Column("is_outage", Boolean, nullable=False),
    Column("outage_prob", Float, nullable=False),
    *(Column(f"p_{t}", Float, nullable=False) for t in TYPES),
    *(Column(f"t_{t}", Boolean, nullable=False) for t in TYPES),
    Column("classified_at", DateTime(timezone=True), nullable=False),
    Index("ix_predictions_model", "model_version", "is_outage"),
    Index("ix_predictions_classified", "classified_at"),  # "latest model version" in O(1)
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(64), nullable=False),
    Column("start", DateTime(timezone=True), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("peak", DateTime(timezone=True), nullable=False),
    Column("end", DateTime(timezone=True), nullable=False),
    Column("peak_count", Float, nullable=False),
    Column("expected_at_peak", Float, nullable=False),
    Column("level", String(16), nullable=False),
    Column("escalated_at", DateTime(timezone=True)),  # when it reached the "outage" level, if it did
    Column("type_shares", JSON),
    Column("model_version", String(64), nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("series", JSON),  # the count series that fired ("reports", types); NULL before version 3
    Column("sensitivity", String(32)),  # the setting that found it ("normal", "2/week"); NULL before v3
    Index("ix_incidents_service_start", "service", "start", unique=True),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("source", String(32), primary_key=True),
    Column("query", String(512), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("post_id", String(128), nullable=False),
    Column("reviewer", String(64), nullable=False, default=""),
    Column("reviewed_at", DateTime(timezone=True), nullable=False),
    Column("model_version", String(64), nullable=False, default=""),
    Column("action", String(16), nullable=False),  # accept, correct, not_outage, skip
    Column("old_types", JSON),  # the model's types when reviewed ([] = not an outage report)
    Column("new_types", JSON),  # the analyst's types (None for skip)
    Index("ix_feedback_post", "source", "post_id"),
    Index("ix_feedback_time", "reviewed_at"),
)


def _v1_initial(conn: Connection) -> None:
    """Version 1: posts, predictions, incidents, checkpoints."""
    metadata.create_all(conn, tables=[posts, predictions, incidents, checkpoints])


def _v2_feedback(conn: Connection) -> None:
    """Version 2: analysts' reviews of predictions (the active-learning loop)."""
    metadata.create_all(conn, tables=[feedback])


def _v3_incident_series(conn: Connection) -> None:
    """Version 3: incidents say which count series fired and which sensitivity found them.

    Version 1 creates the tables as defined now, so a fresh database already has the columns; an older
    one gains them here, NULL for the incidents it holds (found before either existed)."""
    present = {column["name"] for column in inspect(conn).get_columns(incidents.name)}
    for column in (incidents.c.series, incidents.c.sensitivity):
        if column.name not in present:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {incidents.name} ADD COLUMN {column.name} {kind}"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_feedback, _v3_incident_series]
"""Entry i upgrades a database from version i to i + 1. Append, never edit a released entry."""


@contextmanager
def throwaway_database(admin_url: str, prefix: str = "t") -> Iterator[str]:
    """A fresh database on the PostgreSQL server of `admin_url` (tests, benchmarks), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def db_url(url: str | None = None) -> str:
    """The database URL: the argument, else `MINER_DB_URL`, else the SQLite default."""
    return url or os.environ.get("MINER_DB_URL") or DEFAULT_DB_URL


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the collector's writes
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster than FULL
    cur.execute("PRAGMA busy_timeout=10000")  # wait for a writer instead of failing at once
    cur.close()


def connect(url: str | None = None, *, migrate_schema: bool = True) -> Engine:
    """Open the store, creating the SQLite folder and upgrading the schema when needed. A URL that is no
    database URL, a server that does not answer, a file that is no database: StoreError, one line, with
    the URL shown without its password."""
    url = db_url(url)
    shown = _without_password(url)
    try:
        engine = create_engine(_sqlite_folder(url, shown), **_connect_args(url))
    except (ArgumentError, ImportError) as exc:  # not a URL, an unknown dialect, a driver not installed
        raise StoreError(f"{shown}: not a usable database URL ({_first_line(exc)})") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        if migrate_schema:
            migrate(engine)
        else:
            engine.connect().close()
    except DBAPIError as exc:
        raise StoreError(f"cannot use the database {shown}: {_first_line(exc.orig or exc)}") from None
    return engine


def _without_password(url: str) -> str:
    """The URL as it may be shown: "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db"."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _sqlite_folder(url: str, shown: str) -> str:
    """Create the folder of a SQLite file URL (SQLite creates the file, not its folder)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        folder = os.path.dirname(os.path.abspath(url.removeprefix("sqlite:///")))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{shown}: cannot create the folder {folder} ({exc.strerror})") from None
    return url


def _connect_args(url: str) -> dict[str, Any]:
    """PostgreSQL gets CONNECT_TIMEOUT_S unless the URL sets its own connect_timeout."""
    if url.startswith("postgresql") and "connect_timeout" not in url:
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    return {}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def current_version(conn: Connection) -> int:
    """The schema version of a database (0 when it is empty)."""
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return conn.execute(select(schema_version.c.version)).scalar() or 0


def migrate(engine: Engine) -> int:
    """Apply pending migrations in one transaction; returns the resulting version."""
    with engine.begin() as conn:
        metadata.create_all(conn, tables=[schema_version])
        version = current_version(conn)
        for step in MIGRATIONS[version:]:
            step(conn)
        if version == 0:
            conn.execute(schema_version.insert().values(version=len(MIGRATIONS)))
        elif version < len(MIGRATIONS):
            conn.execute(schema_version.update().values(version=len(MIGRATIONS)))
    return len(MIGRATIONS)


def _post_row(post: Post, now: datetime) -> dict[str, Any]:
    return {
        "source": post.source,
        "id": post.id,
        "service": post.service,
        "text": post.text,
        "lang": post.lang,
        "created_at": post.created_at.astimezone(UTC),
        "author": post.author,
        "url": post.url,
        "likes": post.likes,
        "reposts": post.reposts,
        "replies": post.replies,
        "raw": post.raw or None,
        "ingested_at": now,
    }


def _existing_keys(
    conn: Connection, table: Table, key: Sequence[str], rows: list[dict[str, Any]]
) -> set[tuple]:
    """Which of these rows' keys are already stored (the lookup path of `insert_new`)."""
    columns = [table.c[k] for k in key]
    wanted = [tuple(r[k] for k in key) for r in rows]
    return {tuple(found) for found in conn.execute(select(*columns).where(tuple_(*columns).in_(wanted)))}


def insert_posts(conn: Connection, batch: Iterable[Post]) -> int:
    """Insert posts not stored yet (by source and id); returns how many were new.

    Runs inside the caller's transaction so a collector can save its checkpoint atomically.
    """
    unique: dict[tuple[str, str], Post] = {}
    for post in batch:
        unique.setdefault((post.source, post.id), post)
    keys = list(unique)
    now = datetime.now(UTC)
    inserted = 0
    for start in range(0, len(keys), WRITE_BATCH):
        rows = [_post_row(unique[k], now) for k in keys[start : start + WRITE_BATCH]]
        inserted += insert_new(conn, posts, rows, ("source", "id"))
    return inserted


# Dialects whose INSERT ... ON CONFLICT DO NOTHING RETURNING tells which rows were new in one statement.
UPSERT_DIALECTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def insert_new(conn: Connection, table: Table, rows: list[dict[str, Any]], key: Sequence[str]) -> int:
    """Insert the rows whose `key` is not stored yet; returns how many were inserted.

    One INSERT ... ON CONFLICT DO NOTHING where the dialect has it: no lookup first (on a freshly created
    PostgreSQL table that lookup is planned as a full scan), and two writers storing the same row at
    once (a collector and an import, two classifiers) cannot collide. Other dialects look the keys up.
    """
    if not rows:
        return 0
    upsert = UPSERT_DIALECTS.get(conn.dialect.name)
    if upsert is not None:
        stmt = upsert(table).on_conflict_do_nothing(index_elements=list(key)).returning(table.c[key[0]])
        return len(conn.execute(stmt, rows).all())
    existing = _existing_keys(conn, table, key, rows)
    fresh = [r for r in rows if tuple(r[k] for k in key) not in existing]
    if fresh:
        conn.execute(table.insert(), fresh)
    return len(fresh)


def row_to_post(row: Any) -> Post:
    """Rebuild a Post from a `posts` row (SQLite returns naive datetimes: they are UTC)."""
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return Post(
        source=row.source,
        id=row.id,
        text=row.text,
        created_at=created,
        service=row.service,
        lang=row.lang,
        author=row.author,
        url=row.url,
        likes=row.likes,
        reposts=row.reposts,
        replies=row.replies,
        raw=row.raw or {},
    )


def load_checkpoint(conn: Connection, source: str, query: str) -> dict[str, Any]:
    """A collector's saved position for one query ({} when it never ran)."""
    row = conn.execute(
        select(checkpoints.c.state).where(checkpoints.c.source == source, checkpoints.c.query == query)
    ).first()
    if row is None:
        return {}
    return row.state if isinstance(row.state, dict) else json.loads(row.state)


def save_checkpoint(conn: Connection, source: str, query: str, state: dict[str, Any]) -> None:
    """Upsert a checkpoint portably (delete then insert, inside the caller's transaction)."""
    conn.execute(checkpoints.delete().where(checkpoints.c.source == source, checkpoints.c.query == query))
    conn.execute(
        checkpoints.insert().values(source=source, query=query, state=state, updated_at=datetime.now(UTC))
    )
