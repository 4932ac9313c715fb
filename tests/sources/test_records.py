"""Validation of single records: dates to UTC, types, limits, column mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miner.privacy import author_key, is_pseudonym
from miner.sources.records import MAX_TEXT_CHARS, ColumnMap, Rejected, parse_time, to_post


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-19 18:05:00+00:00", datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),
        ("2024-07-19T20:05:00+02:00", datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),
        ("2024-07-19T18:05:00Z", datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),
        ("2024-07-19 18:05:00", datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),  # naive = UTC
        ("Tue Oct 31 22:10:47 +0000 2017", datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)),
        ("Tue, 31 Oct 2017 23:10:47 +0100", datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)),
        (1721412300, datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),
        (1721412300000, datetime(2024, 7, 19, 18, 5, tzinfo=UTC)),
    ],
)
def test_parse_time_gives_aware_utc(value, expected) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value", ["", None, "yesterday", "2024-13-45", "1970-01-01T00:00:00Z", "3024-01-01", 0, True]
)
def test_absurd_or_missing_dates_are_rejected(value) -> None:
    with pytest.raises(Rejected):
        parse_time(value)


def test_future_beyond_a_day_is_rejected() -> None:
    with pytest.raises(Rejected, match="out of range"):
        parse_time((datetime.now(UTC) + timedelta(days=3)).isoformat())


def _fields(**kw):
    return {"id": "1", "text": "plus d'internet depuis ce matin", "created_at": "2024-07-19T18:05:00Z"} | kw


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (_fields(text=None), "missing text"),
        (_fields(text="   "), "empty text"),
        (_fields(text=42), "text must be a string"),
        (_fields(text="x" * (MAX_TEXT_CHARS + 1)), "too long"),
        (_fields(likes="many"), "likes must be a number"),
        (_fields(likes=-3), "must not be negative"),
        (_fields(id={"a": 1}), "id must be"),
        (_fields(created_at="not a date"), "unparseable date"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(fields, reason) -> None:
    with pytest.raises(Rejected, match=reason):
        to_post(fields, ColumnMap())


def test_mapping_and_pseudonymised_author() -> None:
    post = to_post(
        {"post_id": 7, "body": "my DMs won't send", "when": "2024-01-02T03:04:05Z", "user": "@Alice"},
        ColumnMap(text="body", time="when", id="post_id", source="mastodon", service="Instagram"),
    )
    assert (post.source, post.id, post.text, post.service) == (
        "mastodon",
        "7",
        "my DMs won't send",
        "instagram",
    )
    assert post.author == author_key("alice") and is_pseudonym(post.author)
    assert "user" not in post.raw and "Alice" not in str(post.raw)


def test_handles_kept_only_on_opt_in(monkeypatch) -> None:
    monkeypatch.setenv("MINER_KEEP_HANDLES", "1")
    assert to_post(_fields(author="@Bob"), ColumnMap()).author == "bob"


def test_x_public_metrics_are_read() -> None:
    post = to_post(
        _fields(public_metrics={"like_count": 4, "retweet_count": 2, "reply_count": 1}), ColumnMap()
    )
    assert (post.likes, post.reposts, post.replies) == (4, 2, 1)


def test_records_without_id_get_a_stable_content_id() -> None:
    a = to_post({"text": "panne", "date": "2024-07-19 18:05:00+00:00"}, ColumnMap())
    b = to_post({"text": "panne", "date": "2024-07-19 18:05:00+00:00"}, ColumnMap())
    c = to_post({"text": "panne!", "date": "2024-07-19 18:05:00+00:00"}, ColumnMap())
    assert a.id == b.id != c.id


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2026, 1, 1)), st.integers(-12, 14))
def test_any_offset_round_trips_to_the_same_instant(moment: datetime, hours: int) -> None:
    tz = timezone(timedelta(hours=hours))
    aware = moment.replace(tzinfo=tz)
    assert parse_time(aware.isoformat()) == aware.astimezone(UTC)
