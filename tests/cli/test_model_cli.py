"""`miner classify` and `miner train` as a user runs them: formats, stdin, rejects, --db, refusals."""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from miner import store
from miner.classify import save_model
from miner.labels import TYPES, WHAT, WHERE
from miner.post import Post
from tests.test_classify import fit_small, small_corpus

ROWS = [
    {"id": "a1", "text": "plus d'internet depuis ce matin, la box clignote"},
    {"id": "a2", "text": "is spotify down? songs won't play"},
    {"id": "a3", "text": "merci pour votre aide, tout marche"},
]
FIELDS = ["id", "lang", "is_outage", "outage_prob", "types", "what", "where", "type_probs"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "v-cli"
    folder.mkdir()
    save_model(fit_small(small_corpus(posts=300)), folder / "model.skops")
    return folder


@pytest.fixture
def classify(run_cli: Callable, model_dir: Path) -> Callable:
    def run(*args: str) -> Any:
        return run_cli("classify", *args, "--model", str(model_dir))

    return run


def _check_records(records: list[dict]) -> None:
    assert [r["id"] for r in records] == [r["id"] for r in ROWS]
    for r in records:
        assert list(r) == FIELDS
        assert isinstance(r["is_outage"], bool) and 0 <= r["outage_prob"] <= 1
        assert set(r["type_probs"]) == set(TYPES)
        assert bool(r["types"]) == r["is_outage"]
        assert sorted(r["what"] + r["where"]) == sorted(r["types"])
        assert set(r["where"]) <= set(WHERE) and set(r["what"]) <= set(WHAT)


def test_jsonl_in_jsonl_out_on_stdout(classify: Callable, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = classify(str(path))
    assert result.code == 0, result.err
    _check_records([json.loads(line) for line in result.out.splitlines()])
    assert "3 classified" in result.err


def test_csv_in_csv_out(classify: Callable, tmp_path: Path) -> None:
    pd.DataFrame(ROWS).rename(columns={"text": "content", "id": "tweet_id"}).to_csv(
        tmp_path / "in.csv", index=False
    )
    out = tmp_path / "out.csv"
    result = classify(
        str(tmp_path / "in.csv"), "--output", str(out), "--text-col", "content", "--id-col", "tweet_id"
    )
    assert result.code == 0, result.err
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    records = [
        {**r, "is_outage": r["is_outage"] == "True", "outage_prob": float(r["outage_prob"]),
         **{k: json.loads(r[k]) for k in ("types", "what", "where", "type_probs")}}
        for r in rows
    ]  # fmt: skip
    _check_records(records)


def test_parquet_in_parquet_out(classify: Callable, tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    result = classify(str(tmp_path / "in.parquet"), "-o", str(out))
    assert result.code == 0, result.err
    _check_records(pq.read_table(out).to_pylist())


def test_stdin(classify: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    result = classify("-")
    assert result.code == 0, result.err
    _check_records([json.loads(line) for line in result.out.splitlines()])


def test_bad_rows_go_to_the_reject_file(classify: Callable, tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text(
        json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps({"id": "x"}) + "\n" + json.dumps(ROWS[1]) + "\n"
    )
    result = classify(str(path))
    assert result.code == 0, result.err
    assert [json.loads(line)["id"] for line in result.out.splitlines()] == ["a1", "a2"]
    rejects = [
        json.loads(line) for line in (tmp_path / "posts.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects] == [
        (2, "malformed JSON"),
        (3, "missing text"),
    ]
    assert "2 rejected rows written to" in result.err


def _post(i: int) -> Post:
    return Post(source="x", id=f"s{i}", text=ROWS[i % 3]["text"], created_at=datetime(2024, 5, 1, tzinfo=UTC))


def test_db_mode_classifies_only_what_is_new(classify: Callable, engine: Engine) -> None:
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(i) for i in range(5)])
    url = engine.url.render_as_string(hide_password=False)
    first = classify("--db", "--db-url", url)
    assert first.code == 0, first.err
    assert "classified 5 posts" in first.out
    assert "classified 0 posts" in classify("--db", "--db-url", url).out
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(7)])
    assert "classified 1 posts" in classify("--db", "--db-url", url).out


@pytest.mark.parametrize(
    "content", [pickle.dumps({"a": 1}), b"\x00\x01garbage" * 100], ids=["pickle", "random-bytes"]
)
def test_an_invalid_model_file_is_a_one_line_error(run_cli: Callable, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "model.skops").write_bytes(content)
    (tmp_path / "posts.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    result = run_cli("classify", str(tmp_path / "posts.jsonl"), "--model", str(tmp_path))
    assert result.code == 2
    assert "not a valid skops model file" in result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give input files, or --db"),
        (("posts.jsonl", "--db"), "give input files, or --db"),
        (("missing.jsonl",), "no such file"),
        (("posts.jsonl", "--output", "out.xlsx"), "unknown output format"),
    ],
)
def test_usage_errors(
    classify: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "posts.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    result = classify(*args)
    assert result.code == 2
    assert message in result.err


def test_train_refuses_to_overwrite_a_version(run_cli: Callable, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "corpus.jsonl").write_text("")
    (tmp_path / "models" / "v1").mkdir(parents=True)
    result = run_cli("train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "models" / "v1"))
    assert result.code == 2
    assert "already exists; pass --force" in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["train", "classify"])
def test_help_has_an_example(run_cli: Callable, command: str) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0
    assert "Example: miner " + command in result.out


def test_a_cut_gzip_writes_the_rows_before_the_cut(classify: Callable, tmp_path: Path) -> None:
    body = "id,text\n" + "".join(f"r{i},la box ne marche plus {i * 7919 % 10007}\n" for i in range(5000))
    whole = gzip.compress(body.encode())
    path = tmp_path / "posts.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = classify(str(path))
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    written = [json.loads(row)["id"] for row in result.out.splitlines()]
    assert 0 < len(written) < 5000 and written == [f"r{i}" for i in range(len(written))]
    # the header is line 1, so the last row written is line len(written) + 1
    assert f"cannot read past line {len(written) + 1:,} " in line and f"{len(written):,} classified" in line
