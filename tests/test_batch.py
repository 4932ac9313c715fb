"""Bulk classification: files in any format keep order and quarantine bad rows; stored posts once each."""

from __future__ import annotations

import copy
import gzip
import io
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from miner import batch, store
from miner.batch import (
    BATCH_ROWS,
    PROB_DECIMALS,
    WARM_UP_TEXTS,
    Columns,
    FileClassifier,
    JsonlWriter,
    classify_file,
    classify_stored,
    count_unclassified,
)
from miner.classify import OutageModel, prepare
from miner.labels import TYPES, split_kinds
from miner.post import Post
from miner.predict import Predictions, Predictor, decide, load_predictor
from tests.test_classify import fit_small, small_corpus

TEXTS = [
    "plus d'internet depuis ce matin, la box clignote",
    "is spotify down? songs won't play",
    "merci pour votre aide, tout marche",
]


@pytest.fixture(scope="module")
def model() -> OutageModel:
    return fit_small(small_corpus(posts=300))


@pytest.fixture(scope="module")
def predictor(model: OutageModel) -> Predictor:
    return model.predictor()


def _classify_lines(predictor: Predictor, path: Path, **kwargs: object) -> list[dict]:
    out = io.StringIO()
    summary = classify_file(FileClassifier(predictor), path, JsonlWriter(out), **kwargs)
    assert summary.classified == len(out.getvalue().splitlines())
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_records_follow_input_order_across_batches(predictor: Predictor, tmp_path: Path) -> None:
    rows = [{"id": f"p{i}", "text": TEXTS[i % 3]} for i in range(BATCH_ROWS + 5)]
    path = tmp_path / "posts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    records = _classify_lines(predictor, path)
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    first = records[0]
    assert list(first) == ["id", "lang", "is_outage", "outage_prob", "types", "what", "where", "type_probs"]
    assert set(first["type_probs"]) == set(TYPES)
    assert records[3] == {**first, "id": "p3"}  # same text, same answer, whatever its batch
    assert records[BATCH_ROWS] == {**records[BATCH_ROWS % 3], "id": f"p{BATCH_ROWS}"}


# One of each kind of bad row (malformed JSON, missing or non-string text, too long, invalid UTF-8, bad id).
BAD_LINES = [
    b'{"id": "broken", "text": ',
    json.dumps({"id": "no-text"}).encode(),
    json.dumps({"id": "number", "text": 42}).encode(),
    json.dumps({"id": "huge", "text": "x" * 50_001}).encode(),
    b'{"id": "latin1", "text": "caf\xe9"}',
    json.dumps({"id": {"nested": 1}, "text": "an id that is an object"}).encode(),
]


def test_bad_rows_are_quarantined_and_the_rest_classified(predictor: Predictor, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "good1", "text": TEXTS[0]}).encode(),
        *BAD_LINES,
        json.dumps({"id": "good2", "text": TEXTS[1]}).encode(),
    ]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records = _classify_lines(predictor, path)
    assert [r["id"] for r in records] == ["good1", "good2"]
    rejects = [
        json.loads(line) for line in (tmp_path / "posts.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    reasons = {r["line"]: r["reason"] for r in rejects}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert reasons[2].startswith("malformed JSON")
    assert reasons[3] == "missing text"
    assert reasons[4] == "text must be a string, got int"
    assert reasons[5].startswith("text too long")
    assert reasons[6].startswith("invalid UTF-8")
    assert reasons[7] == "id must be a string or integer, got dict"


def test_rows_without_an_id_get_their_row_number(predictor: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text("body\n" + "\n".join(f'"{t}"' for t in TEXTS) + "\n", encoding="utf-8")

    records = _classify_lines(predictor, path, cols=Columns(text="body"))
    assert [r["id"] for r in records] == ["2", "3", "4"]  # CSV line numbers, after the header
    assert not (tmp_path / "posts.csv.rejected.jsonl").exists()


def _post(i: int, text: str) -> Post:
    return Post(source="x", id=str(i), text=text, created_at=datetime(2024, 5, 1, tzinfo=UTC), service="free")


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.predictions)).scalar_one()


def test_stored_posts_are_classified_once_per_model_version(predictor: Predictor, engine: Engine) -> None:
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(i, TEXTS[i % 3]) for i in range(7)])
    assert count_unclassified(engine, predictor.version) == 7
    assert classify_stored(engine, predictor, batch_size=3) == 7
    assert classify_stored(engine, predictor, batch_size=3) == 0
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(99, "instagram est en panne, impossible de publier")])
    assert classify_stored(engine, predictor) == 1
    assert _stored(engine) == 8
    another = copy.copy(predictor)
    another.version = "another-version"
    assert classify_stored(engine, another) == 8  # a new version classifies everything again
    assert _stored(engine) == 16


def test_stored_predictions_hold_every_column(model: OutageModel, engine: Engine) -> None:
    with engine.begin() as conn:
        store.insert_posts(conn, [_post(1, TEXTS[0]), _post(2, TEXTS[2])])
    classify_stored(engine, model.predictor())
    with engine.connect() as conn:
        rows = conn.execute(select(store.predictions).order_by(store.predictions.c.post_id)).mappings().all()
    expected = model.predict(TEXTS[0:3:2])
    for row, prediction in zip(rows, expected, strict=True):
        assert row["model_version"] == "test-small" and row["source"] == "x"
        assert row["is_outage"] == prediction.is_outage
        assert row["outage_prob"] == pytest.approx(prediction.outage_prob)
        assert [t for t in TYPES if row[f"t_{t}"]] == prediction.types
        assert row["p_dm"] == pytest.approx(prediction.type_probs["dm"])
        assert row["lang"] == prediction.lang


class CountingPredictor:
    """A predictor that records which texts reach the model."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor, self.version, self.seen = predictor, predictor.version, Counter()

    def predict(self, texts: list[str]) -> Predictions:
        self.seen.update(texts)
        return self.predictor.predict(texts)


def test_a_repeated_text_reaches_the_model_once(
    predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [*TEXTS, "instagram est en panne, impossible de publier", "ok thanks"]
    rows = [{"id": f"p{i}", "text": texts[i % len(texts)]} for i in range(2 * BATCH_ROWS + 7)]
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    counting = CountingPredictor(predictor)
    out = io.StringIO()
    classify_file(FileClassifier(counting), path, JsonlWriter(out))
    assert counting.seen == Counter(texts)  # once each, across batches
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert all(r == {**records[i % len(texts)], "id": r["id"]} for i, r in enumerate(records))
    # A memo that would pass its size is emptied, texts seen before and new ones in the same batch: the texts
    # reach the model again, with the same answers.
    monkeypatch.setattr(batch, "BATCH_ROWS", 3)
    monkeypatch.setattr(batch, "TEXT_MEMO_SIZE", 4)
    counting = CountingPredictor(predictor)
    small = FileClassifier(counting)
    again = io.StringIO()
    classify_file(small, path, JsonlWriter(again))
    assert again.getvalue() == out.getvalue() and len(small.memo) <= 4
    assert counting.seen.total() > len(texts)


def test_output_lines_are_the_records_of_the_models_probabilities(model: OutageModel, tmp_path: Path) -> None:
    # The straightforward record: the model's own predict_proba, decisions, four-decimal rounding, json.dumps.
    texts = small_corpus(posts=200, seed=3)["text"].tolist()
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    out = io.StringIO()
    classify_file(FileClassifier(model.predictor()), path, JsonlWriter(out))
    prepared = prepare(texts)
    probs = model.predict_proba(prepared)
    decisions = decide(probs, model.thresholds_)
    rounded = np.round(probs, PROB_DECIMALS)
    for i, line in enumerate(out.getvalue().splitlines()):
        types = [t for j, t in enumerate(TYPES, start=1) if decisions[i, j]]
        record = {
            "id": str(i),
            "lang": prepared["lang"][i],
            "is_outage": bool(decisions[i, 0]),
            "outage_prob": float(rounded[i, 0]),
            "types": types,
            **split_kinds(types),
            "type_probs": dict(zip(TYPES, rounded[i, 1:].tolist(), strict=True)),
        }
        assert line == json.dumps(record, ensure_ascii=False)


FIRST_BATCH = """
import json, sys
from pathlib import Path
from miner.batch import FileClassifier, ParquetWriter, warm_up
from miner.predict import load_predictor
classifier = FileClassifier(load_predictor())
if sys.argv[3] == "warm":
    warm_up(classifier)
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")][:300]
before = set(sys.modules)
writer = ParquetWriter(Path(sys.argv[2]))
writer.write([str(i) for i in range(len(texts))], classifier(texts))
writer.close()
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("state", ["cold", "warm"])
def test_after_warm_up_the_first_batch_imports_nothing(state: str, tmp_path: Path) -> None:
    """What a Dask worker's first task would pay (modules imported on first use) is paid by warm_up: a cold
    classifier's first batch into Parquet imports pandas among others, a warmed one's imports nothing."""
    FileClassifier(load_predictor())(WARM_UP_TEXTS)  # fills the disk cache, whose first build imports more
    corpus = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
    command = [sys.executable, "-c", FIRST_BATCH, str(corpus), str(tmp_path / "out.parquet"), state]
    imported = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert ("pandas" in imported) if state == "cold" else imported == []
