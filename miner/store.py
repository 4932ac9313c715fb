"""The store: SQLAlchemy Core tables for posts, predictions, incidents and checkpoints.

Default is a SQLite file (`data/miner.db`, WAL mode so the dashboard reads while a collector
writes); any SQLAlchemy URL in `MINER_DB_URL` works with the same code. Schema changes go
through `MIGRATIONS`: each entry upgrades the schema by one version and `schema_version`
records where a database stands (see README, "Database").
"""

from __future__ import annotations

import json
import operator
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
    and_,
    create_engine,
    event,
    func,
    insert,
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
    # The post's service and time, copied on write (version 4): the dashboard's counts read the outage
    # reports from the partial index below alone, without joining posts.
    Column("service", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("lang", String(8), nullable=False, default=""),  # the model's language, else the post's
    Column("is_outage", Boolean, nullable=False),
    Column("outage_prob", Float, nullable=False),
    *(Column(f"p_{t}", Float, nullable=False) for t in TYPES),
    *(Column(f"t_{t}", Boolean, nullable=False) for t in TYPES),
    Column("classified_at", DateTime(timezone=True), nullable=False),
    Index("ix_predictions_model", "model_version", "is_outage"),
    Index("ix_predictions_classified", "classified_at"),  # "latest model version" in O(1)
)

REPORT_FLAGS = [predictions.c[f"t_{t}"] for t in TYPES]
# The outage reports of one model version and service in time order, with what the dashboard filters and
# counts on: its charts are index-only range scans (21 ms against 285 ms for the posts x predictions join
# on a million posts, bench/README.md). Partial: non-reports, most predictions, are left out. SQLite has
# no INCLUDE, so the filtered columns follow the key on both backends; its condition is written the way
# SQLAlchemy renders `WHERE predictions.is_outage` there ("= 1"), which SQLite needs to match it.
Index(
    "ix_predictions_reports",
    predictions.c.model_version,
    predictions.c.service,
    predictions.c.created_at,
    predictions.c.lang,
    *REPORT_FLAGS,
    sqlite_where=predictions.c.is_outage == True,  # noqa: E712 (SQL, not Python)
    postgresql_where=predictions.c.is_outage,
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


def _v4_report_columns(conn: Connection) -> None:
    """Version 4: predictions carry their post's service and time, and the language the dashboard shows (the
    model's, else the post's), under the partial index of the outage reports `ix_predictions_reports`.

    A fresh database has them from version 1. An older one gets its predictions table rebuilt: the way
    SQLite adds NOT NULL columns, and on PostgreSQL a copy leaves no dead row behind, as an UPDATE of every
    row would. Predictions whose post is no longer stored are not carried over: nothing could show them."""
    if "service" not in {column["name"] for column in inspect(conn).get_columns(predictions.name)}:
        _rebuild_predictions(conn)
    for index in predictions.indexes:
        index.create(conn, checkfirst=True)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {predictions.name}"))  # plan the new index now, not after autovacuum


def _rebuild_predictions(conn: Connection) -> None:
    """Copy a version 3 predictions table into the current definition, joined to posts, and swap it in."""
    staged = Table(f"{predictions.name}_v4", MetaData(), *(column._copy() for column in predictions.columns))
    staged.create(conn)
    r, p = predictions, posts
    shown_lang = func.coalesce(func.nullif(r.c.lang, ""), p.c.lang)  # what the dashboard showed until v3
    copied = {"service": p.c.service, "created_at": p.c.created_at, "lang": shown_lang}
    values = [copied.get(column.name, column) for column in r.columns]
    joined = r.join(p, and_(p.c.source == r.c.source, p.c.id == r.c.post_id))
    conn.execute(insert(staged).from_select([c.name for c in r.columns], select(*values).select_from(joined)))
    conn.execute(text(f"DROP TABLE {r.name}"))
    conn.execute(text(f"ALTER TABLE {staged.name} RENAME TO {r.name}"))
    if conn.dialect.name == "postgresql":  # the primary key keeps the name it was created with
        conn.execute(text(f"ALTER TABLE {r.name} RENAME CONSTRAINT {staged.name}_pkey TO {r.name}_pkey"))


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial,
    _v2_feedback,
    _v3_incident_series,
    _v4_report_columns,
]
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
    now = datetime.now(UTC)
    if conn.dialect.name == "postgresql" and unique:
        return _copy_new_posts(conn, unique.values(), now)
    keys = list(unique)
    inserted = 0
    for start in range(0, len(keys), WRITE_BATCH):
        rows = [_post_row(unique[k], now) for k in keys[start : start + WRITE_BATCH]]
        inserted += insert_new(conn, posts, rows, ("source", "id"))
    return inserted


# PostgreSQL: this session's temporary table that posts are COPYed into before one INSERT moves the new ones
# into `posts`; emptied at each commit, and after each use, so one transaction may import several batches.
POSTS_STAGING = "posts_incoming"
_POST_COLUMNS = ", ".join(c.name for c in posts.columns)
_in_column_order = operator.itemgetter(*(c.name for c in posts.columns))


def _copy_new_posts(conn: Connection, batch: Iterable[Post], now: datetime) -> int:
    """PostgreSQL: insert the posts not stored yet through COPY (psycopg's `cursor.copy`, no statement per
    row) into POSTS_STAGING, then one INSERT ... SELECT ... ON CONFLICT (source, id) DO NOTHING, in the
    caller's transaction; returns how many were new.

    The INSERT takes the keys in order, so two importers storing the same posts at once wait for each
    other's rows in the same order and never deadlock; ON CONFLICT keeps either from storing a post twice."""
    cursor = conn.connection.driver_connection.cursor()  # the connection of `conn`: same transaction
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {POSTS_STAGING} (LIKE {posts.name} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {POSTS_STAGING} ({_POST_COLUMNS}) FROM STDIN") as copy:
        for post in batch:
            copy.write_row(_post_values(post, now))
    cursor.execute(
        f"INSERT INTO {posts.name} ({_POST_COLUMNS}) SELECT {_POST_COLUMNS} FROM {POSTS_STAGING} "
        "ORDER BY source, id ON CONFLICT (source, id) DO NOTHING"
    )
    inserted = cursor.rowcount
    cursor.execute(f"DELETE FROM {POSTS_STAGING}")
    return inserted


def _post_values(post: Post, now: datetime) -> tuple[Any, ...]:
    """A post as a COPY row, in the order of `posts.columns` (the JSON column as its text)."""
    row = _post_row(post, now)
    if row["raw"] is not None:
        row["raw"] = json.dumps(row["raw"])
    return _in_column_order(row)


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


def prediction_row(
    post: Any, output: dict[str, Any], version: str, classified_at: datetime
) -> dict[str, Any]:
    """The predictions row of the model's `output` (lang, is_outage, outage_prob, p_*, t_*) for a stored
    `post` (a Post or a posts row): with the post's service and time, which the dashboard filters on, and
    the post's language where the model gave none. Every writer of predictions builds its rows here."""
    return {
        **output,
        "source": post.source,
        "post_id": post.id,
        "model_version": version,
        "service": post.service,
        "created_at": _as_utc(post.created_at),
        "lang": output.get("lang") or post.lang,
        "classified_at": classified_at,
    }


def _as_utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
