"""Readers: every format streams records and marks unreadable lines instead of failing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from miner.errors import BadInput, BrokenInput
from miner.sources.files import InputFile, detect_format, read_records

X_PAGE = {
    "data": [
        {
            "id": "1815",
            "text": "is X down? can't tweet",
            "author_id": "u1",
            "created_at": "2024-07-19T17:00:00.000Z",
            "lang": "en",
            "public_metrics": {"like_count": 2, "retweet_count": 0, "reply_count": 1},
        },
        {
            "id": "1816",
            "text": "impossible de publier",
            "author_id": "u2",
            "created_at": "2024-07-19T17:01:00.000Z",
        },
    ],
    "includes": {"users": [{"id": "u1", "username": "alice"}, {"id": "u2", "username": "bob"}]},
    "meta": {"result_count": 2, "newest_id": "1816"},
}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.JSONL.gz", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.csv.gz", "csv"),
        ("b.parquet", "parquet"),
        ("page.json", "json"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(Path(name)) == fmt


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="unknown format 'txt'"):
        detect_format(Path("posts.txt"))


def test_x_api_v2_pages_are_flattened_with_usernames(tmp_path: Path) -> None:
    one = tmp_path / "page.json"
    one.write_text(json.dumps(X_PAGE))
    lines = tmp_path / "pages.jsonl.gz"
    with gzip.open(lines, "wt") as f:
        f.write(json.dumps(X_PAGE) + "\n" + json.dumps(X_PAGE) + "\n")
    for path, expected in ((one, 2), (lines, 4)):
        records = list(read_records(path))
        assert len(records) == expected
        assert records[0].fields["username"] == "alice" and records[1].fields["username"] == "bob"


def test_jsonl_bad_lines_are_marked_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'{"id": 1, "text": "ok"}\n'
        b'{"id": 2, "text": \n'
        b'\xff\xfe{"id": 3}\n'
        b"[1, 2]\n"
        b"\n"
        b'{"id": 4, "text": "still ok"}\n'
    )
    records = list(read_records(path))
    assert [r.line for r in records] == [1, 2, 3, 4, 4, 6]
    assert [bool(r.error) for r in records] == [False, True, True, True, True, False]
    assert "malformed JSON" in records[1].error and "invalid UTF-8" in records[2].error


def test_csv_with_multiline_quotes_and_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_bytes(
        b'id,text,date\n1,"line one\nline two",2024-01-01\n2,caf\xe9 cass\xe9,2024-01-01\n3,fine,2024-01-02\n'
    )
    records = list(read_records(path))
    assert records[0].fields["text"] == "line one\nline two"
    assert records[1].error == "invalid UTF-8"
    assert records[2].fields["id"] == "3"


def test_parquet_streams_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"id": list(range(25_000)), "text": ["t"] * 25_000}), path, row_group_size=5_000)
    records = read_records(path)
    assert next(records).fields == {"id": 0, "text": "t"}
    assert sum(1 for _ in records) == 24_999


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        list(read_records(tmp_path / "nope.jsonl"))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(BadInput, match="not a readable Parquet file"):
        list(read_records(bad))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_cut_gzip_ends_the_records_at_the_cut_and_says_where(tmp_path: Path, fmt: str) -> None:
    rows = [{"id": i, "text": f"post {i * 7919 % 10007}"} for i in range(5000)]
    if fmt == "jsonl":
        body = "".join(json.dumps(row) + "\n" for row in rows)
    else:
        body = "id,text\n" + "".join(f"{row['id']},{row['text']}\n" for row in rows)
    whole = gzip.compress(body.encode())
    cut = tmp_path / f"cut.{fmt}.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with InputFile(cut) as source:
        records = list(source.records())
        assert 0 < len(records) < len(rows)
        assert [r.fields["text"] for r in records] == [str(row["text"]) for row in rows[: len(records)]]
        assert source.last_line == records[-1].line and "end-of-stream" in source.broken
        with pytest.raises(BrokenInput, match=rf"cannot read past line {source.last_line:,} .*; kept"):
            source.raise_if_broken("kept")
    complete = tmp_path / f"whole.{fmt}.gz"
    complete.write_bytes(whole)
    with InputFile(complete) as source:
        assert len(list(source.records())) == len(rows)
        source.raise_if_broken("kept")  # a whole file raises nothing
