"""`miner import` as a user runs it: summary, errors as one line with exit code 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import func, select

from miner import store


def test_import_prints_summary_and_writes_rejects(run_cli, tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text(
        json.dumps({"id": "1", "text": "is instagram down?", "created_at": "2024-07-19T17:00:00Z"})
        + "\n"
        + "{broken\n"
    )
    result = run_cli("import", str(path), "--service", "instagram", "--db-url", db_url)
    assert result.code == 0, result.err
    assert "Import summary" in result.err and "1 rejected rows" in result.err
    assert (tmp_path / "posts.jsonl.rejected.jsonl").exists()
    with store.connect(db_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.posts)).scalar() == 1
        assert conn.execute(select(store.posts.c.service)).scalar() == "instagram"


def test_missing_file_is_one_line_exit_2_and_store_untouched(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    result = run_cli("import", str(tmp_path / "absent.csv"), "--db-url", f"sqlite:///{db}")
    assert result.code == 2
    assert result.err.strip().splitlines() == [f"error: {tmp_path / 'absent.csv'}: no such file"]
    assert not db.exists()


def test_unknown_format_and_directory(run_cli, tmp_path: Path, db_url: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    assert "unknown format" in run_cli("import", str(tmp_path / "notes.txt"), "--db-url", db_url).err
    result = run_cli("import", str(tmp_path), "--db-url", db_url)
    assert result.code == 2


def test_column_mapping_options(run_cli, tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "custom.csv"
    path.write_text("ref,message,posted\nA1,plus de réseau,2024-07-19T17:00:00+02:00\n")
    result = run_cli(
        "import",
        str(path),
        "--text-col",
        "message",
        "--time-col",
        "posted",
        "--id-col",
        "ref",
        "--source",
        "mastodon",
        "--db-url",
        db_url,
    )
    assert result.code == 0, result.err
    with store.connect(db_url).connect() as conn:
        row = conn.execute(select(store.posts)).one()
    assert (row.source, row.id, row.text) == ("mastodon", "A1", "plus de réseau")
    assert store.row_to_post(row).created_at.hour == 15


def test_a_cut_gzip_keeps_the_rows_before_the_cut(run_cli, tmp_path: Path, db_url: str) -> None:
    rows = [
        {"id": str(i), "text": f"plus de réseau {i * 7919 % 10007}", "created_at": "2024-07-19T17:00:00Z"}
        for i in range(5000)
    ]
    whole = gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())
    path = tmp_path / "posts.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = run_cli("import", str(path), "--service", "free", "--db-url", db_url)
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    stored = _count(db_url)
    assert 0 < stored < len(rows)
    assert f"cannot read past line {stored:,} " in line and f"{stored:,} imported" in line
    ids = {row.id for row in _stored_ids(db_url)}
    assert ids == {str(i) for i in range(stored)}  # exactly the rows before the cut


def _count(db_url: str) -> int:
    with store.connect(db_url).connect() as conn:
        return conn.execute(select(func.count()).select_from(store.posts)).scalar_one()


def _stored_ids(db_url: str) -> list:
    with store.connect(db_url).connect() as conn:
        return conn.execute(select(store.posts.c.id)).all()
