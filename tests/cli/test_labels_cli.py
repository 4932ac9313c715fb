"""`miner explain` and `miner labels export` as a user runs them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from miner.classify import Prediction
from miner.cli.labels import explanation_lines
from miner.feedback import ACCEPT, NOT_OUTAGE, Explanation, split_of
from miner.labels import TYPES
from tests.test_feedback import (
    add_review,
    fill,
    make_post,
    prediction,
    probs_row,
    saved_small_model,
    small_model,
)

TEXT = "plus d'internet depuis ce matin, la box clignote"
# "  +0.821  word:internet": a signed contribution, then the n-gram
REASON = re.compile(r"^  [+-]\d+\.\d{3}  (word|char):")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved_small_model(tmp_path_factory.mktemp("models") / "v-small")


def test_explain_prints_verdict_types_and_reasons(run_cli: Callable, model_dir: Path) -> None:
    result = run_cli("explain", TEXT, "--model", str(model_dir), "--k", "3")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    (expected,) = small_model().predict([TEXT])
    verdict = "outage report" if expected.is_outage else "not an outage report"
    assert lines[0].startswith(f"{verdict}: outage probability {expected.outage_prob:.3f} (threshold ")
    assert lines[1] == "types: " + (
        ", ".join(f"{t} {expected.type_probs[t]:.3f}" for t in expected.types) or "none"
    )
    headers = [i for i, line in enumerate(lines) if line.startswith("why ")]
    assert [lines[i].split()[1] for i in headers] == ["outage", *expected.types]
    for i in headers:
        assert all(REASON.match(line) for line in lines[i + 1 : i + 4])
    top = small_model().top_features(TEXT, 1, "outage")[0]
    assert lines[headers[0] + 1] == f"  {top[1]:+.3f}  {top[0]}"


def test_explain_escapes_terminal_control_characters() -> None:
    """An n-gram is post text: one learnt from posts holding escape sequences must not drive the terminal."""
    prediction = Prediction("fr", True, 0.9, ["app"], {t: 0.1 for t in TYPES})
    reasons = {"outage": [("word:\x1b[31mrouge", 0.5)], "app": [("char:'\x07'", -0.25)]}
    lines = explanation_lines(Explanation(prediction, {"outage": 0.4}, reasons))
    assert lines == [
        "outage report: outage probability 0.900 (threshold 0.40), language fr",
        "types: app 0.100",
        "why outage (contribution to its log-odds):",
        "  +0.500  word:\\x1b[31mrouge",
        "why app (contribution to its log-odds):",
        "  -0.250  char:'\\x07'",
    ]


def test_explain_without_a_model_is_one_line(run_cli: Callable, tmp_path: Path) -> None:
    result = run_cli("explain", TEXT, "--model", str(tmp_path / "none"))
    assert result.code == 2
    assert "no such model file" in result.err and "Traceback" not in result.err


def test_labels_export_writes_the_corpus_format(
    run_cli: Callable, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    posts = [make_post("p1", "l'appli plante"), make_post("p2", "tout marche")]
    fill(engine, posts, [prediction(p.id, probs_row({"outage": 0.5})) for p in posts])
    add_review(engine, "p1", ACCEPT, types=("app",))
    add_review(engine, "p2", NOT_OUTAGE, types=())
    out = tmp_path / "feedback.jsonl"
    result = run_cli("labels", "export", str(out), "--db-url", db_url)
    assert result.code == 0, result.err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["types"], r["origin"]) for r in records] == [
        ("fb-x-p1", ["app"], "feedback"),
        ("fb-x-p2", [], "feedback"),
    ]
    assert all(r["split"] == split_of(r["author"]) for r in records)
    on_test = sum(r["split"] == "test" for r in records)
    assert f"2 reviewed posts written to {out}; {on_test} are by test-split authors" in result.err
