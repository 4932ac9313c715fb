"""Turn one raw record into a validated `Post`, or say in one phrase why it is rejected."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from miner.post import Post
from miner.privacy import author_key

# The longest legitimate posts (X long posts) are 25,000 characters; anything far beyond is
# a broken export or an attack, and would slow every stage after it.
MAX_TEXT_CHARS = 50_000
# No public social network predates this; an earlier date is a parsing error (epoch 0 etc.).
MIN_DATE = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift and time zones get mislabelled: tolerate a day in the future, no more.
MAX_FUTURE = timedelta(days=1)

TEXT_COLUMNS = ("text", "full_text", "content", "body", "record.text")
TIME_COLUMNS = ("created_at", "created_at_utc", "date", "timestamp", "time", "indexed_at")
ID_COLUMNS = ("id", "tweet_id", "post_id", "status_id", "uri")
AUTHOR_COLUMNS = ("author", "username", "author_id", "user", "handle", "screen_name", "account")
URL_COLUMNS = ("url", "link", "permalink")
LANG_COLUMNS = ("lang", "language")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which input column holds what; None means 'try the usual names'."""

    text: str | None = None
    time: str | None = None
    id: str | None = None
    author: str | None = None
    source: str = "file"
    service: str = ""


class Rejected(ValueError):
    """A record that cannot become a Post; the message is the reason written to the reject file."""


def _pick(fields: dict[str, Any], explicit: str | None, candidates: tuple[str, ...]) -> Any:
    if explicit is not None:
        return fields.get(explicit)
    for name in candidates:
        if fields.get(name) not in (None, ""):
            return fields[name]
    return None


def parse_time(value: Any) -> datetime:
    """Parse ISO 8601, X's classic format or epoch seconds/milliseconds into aware UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        seconds = value / 1000 if abs(value) > 1e11 else value
        parsed = datetime.fromtimestamp(seconds, tz=UTC)
    elif isinstance(value, str) and value.strip():
        parsed = _parse_time_text(value.strip())
    else:
        raise Rejected(f"missing or unusable date {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not MIN_DATE <= parsed <= datetime.now(UTC) + MAX_FUTURE:
        raise Rejected(f"date out of range: {parsed.isoformat()}")
    return parsed


def _parse_time_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)  # RFC 2822, e.g. "Tue, 31 Oct 2017 22:10:47 +0000"
    except (TypeError, ValueError):
        pass
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")  # X API v1.1 created_at
    except ValueError:
        raise Rejected(f"unparseable date {text[:60]!r}") from None


def validate_text(value: Any) -> str:
    """The post text if usable (a non-empty string within MAX_TEXT_CHARS, no NUL), else Rejected."""
    if not isinstance(value, str):
        raise Rejected(
            f"text must be a string, got {type(value).__name__}" if value is not None else "missing text"
        )
    if not value or value.isspace():
        raise Rejected("empty text")
    if len(value) > MAX_TEXT_CHARS:
        raise Rejected(f"text too long: {len(value):,} characters (limit {MAX_TEXT_CHARS:,})")
    if "\x00" in value:
        raise Rejected("text contains NUL characters")
    return value


def _count(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Rejected(f"{name} must be a number, got {type(value).__name__}")
    try:
        number = int(float(value))
    except ValueError:
        raise Rejected(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise Rejected(f"{name} must not be negative, got {number}")
    return number


def _metrics(fields: dict[str, Any]) -> dict[str, Any]:
    """Engagement counts live at the top level or in X's `public_metrics`."""
    metrics = fields.get("public_metrics")
    return metrics if isinstance(metrics, dict) else fields


def _record_id(fields: dict[str, Any], cols: ColumnMap, text: str, created: datetime) -> str:
    value = _pick(fields, cols.id, ID_COLUMNS)
    if value in (None, ""):
        # No id column: a content hash still makes re-imports idempotent.
        return "sha1:" + hashlib.sha1(f"{created.isoformat()}\x00{text}".encode()).hexdigest()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, str | int):
        raise Rejected(f"id must be a string or integer, got {type(value).__name__}")
    return str(value)


def to_post(fields: dict[str, Any], cols: ColumnMap) -> Post:
    """Validate and map one record; raises Rejected with the reason."""
    text = validate_text(_pick(fields, cols.text, TEXT_COLUMNS))
    created = parse_time(_pick(fields, cols.time, TIME_COLUMNS))
    metrics = _metrics(fields)
    author = _pick(fields, cols.author, AUTHOR_COLUMNS)
    service = cols.service or str(fields.get("service") or "")
    return Post(
        source=cols.source or str(fields.get("source") or "file"),
        id=_record_id(fields, cols, text, created),
        text=text,
        created_at=created,
        service=service.strip().lower(),
        lang=str(_pick(fields, None, LANG_COLUMNS) or ""),
        author=author_key(str(author)) if author not in (None, "") else "",
        url=str(_pick(fields, None, URL_COLUMNS) or ""),
        likes=_count(metrics.get("like_count", metrics.get("likes")), "likes"),
        reposts=_count(metrics.get("retweet_count", metrics.get("reposts")), "reposts"),
        replies=_count(metrics.get("reply_count", metrics.get("replies")), "replies"),
        raw=_json_safe(fields),
    )


def _json_safe(fields: dict[str, Any]) -> dict[str, Any]:
    """The raw record, minus the author handle when handles are pseudonymised, JSON-serialisable."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in AUTHOR_COLUMNS:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
