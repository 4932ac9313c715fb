"""`miner.train`: the step chain, honest splits, the versioned folder it writes, overwrite protection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from miner import train as train_module
from miner.classify import OutageModel, load_model
from miner.errors import BadInput
from miner.labels import KINDS, LANGS, TYPES
from miner.train import STEPS, Step, cv_groups, run_steps, scores, train, version_name

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "labeled" / "corpus.jsonl"
# Two quick set-ups so the chain really compares and selects, on a corpus slice that trains in seconds.
QUICK_SETUPS = {
    "quick-word": {"char_ngrams": None, "cv": 3, "max_features": 20_000},
    "quick-word+char": {"char_ngrams": (2, 4), "cv": 3, "max_features": 20_000},
}


def write_small_corpus(folder: Path, train_posts: int = 420, test_posts: int = 150) -> Path:
    """A slice of the real corpus (same fields, fixed split) in `folder`/corpus.jsonl."""
    corpus = pd.read_json(CORPUS, lines=True, dtype={"id": str, "author": str})
    parts = [corpus[corpus["split"] == "train"].sample(train_posts, random_state=0)]
    parts.append(corpus[corpus["split"] == "test"].sample(test_posts, random_state=0))
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_json(folder / "corpus.jsonl", orient="records", lines=True, force_ascii=False)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One real run of the chain on a small corpus, recording which rows every fit saw."""
    data = write_small_corpus(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("models") / "v-test"
    seen_splits: set[str] = set()
    real_fit = train_module._fit

    def spying_fit(params: dict, rows: pd.DataFrame, seed: int, version: str = "dev") -> OutageModel:
        seen_splits.update(rows["split"])
        return real_fit(params, rows, seed, version)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "SETUPS", QUICK_SETUPS)
        mp.setattr(train_module, "CV_FOLDS", 3)
        mp.setattr(train_module, "_fit", spying_fit)
        context = train(data, out, seed=0)
    yield {"context": context, "out": out, "seen_splits": seen_splits, "data": data}


def test_the_chain_writes_a_loadable_versioned_folder(trained: dict) -> None:
    out = trained["out"]
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "metrics.json", "model.skops"]
    model = load_model(out)
    assert model.version == "v-test"
    assert len(model.predict(["plus d'internet depuis ce matin", "thanks, it works now"])) == 2


def test_only_the_train_split_is_ever_fitted(trained: dict) -> None:
    assert trained["seen_splits"] == {"train"}


def test_metrics_report_every_figure_per_language(trained: dict) -> None:
    metrics = json.loads((trained["out"] / "metrics.json").read_text())
    assert set(metrics["cv"]) == set(QUICK_SETUPS)
    assert metrics["setup"]["name"] == max(metrics["cv"], key=lambda n: metrics["cv"][n]["objective"])
    assert set(metrics["thresholds"]) == {"outage", *TYPES}
    assert metrics["corpus_sizes"]["train"]["all"] == 420
    assert metrics["corpus_sizes"]["test"]["all"] == 150
    for lang in ("all", *LANGS):
        result = metrics["test"][lang]
        outage = result["outage"]
        assert {"precision", "recall", "f1", "tp", "fp", "fn", "tn"} <= set(outage)
        assert set(result["types"]) == set(TYPES)
        assert result["type_macro_f1"] == pytest.approx(np.mean([t["f1"] for t in result["types"].values()]))
        for kind, labels in KINDS.items():
            expected = np.mean([result["types"][label]["f1"] for label in labels])
            assert result["kind_macro_f1"][kind] == pytest.approx(expected)
    per_lang_posts = sum(metrics["test"][lang]["posts"] for lang in LANGS)
    assert per_lang_posts <= metrics["test"]["all"]["posts"]


def test_model_card_compares_the_set_ups(trained: dict) -> None:
    card = (trained["out"] / "MODEL_CARD.md").read_text()
    kept = trained["context"]["setup"]
    assert f"Kept **{kept}**" in card
    for name in QUICK_SETUPS:
        assert f"| {name} |" in card
    assert "## Known weaknesses" in card and "| fr |" in card and "| en |" in card
    assert "what macro-F1 | where macro-F1" in card


def test_written_day_figures_are_in_metrics_and_card(trained: dict) -> None:
    """The fitted model runs the written outage day through the product; its figures are reported."""
    metrics = json.loads((trained["out"] / "metrics.json").read_text())
    day = metrics["devday"]
    assert set(day["outage_f1"]) == {"all", "fr", "en"} and 0 < day["outage_f1"]["all"] <= 1
    assert {"app", "website", "posting", "dm"} <= set(day["shares"]["labelled"])
    assert all(0 < share <= 1 for share in day["shares"]["predicted"].values())
    card = (trained["out"] / "MODEL_CARD.md").read_text()
    assert "## Written outage day" in card and "| where | app |" in card


def test_an_existing_version_is_not_overwritten_without_force(
    trained: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_module, "run_steps", lambda context, **_: context)
    with pytest.raises(BadInput, match="already exists; pass --force"):
        train(trained["data"], trained["out"])
    assert train(trained["data"], trained["out"], force=True)["out"] == trained["out"]


def test_version_name_follows_corpus_and_seed(tmp_path: Path) -> None:
    data = write_small_corpus(tmp_path / "a", train_posts=30, test_posts=10)
    day = datetime(2025, 3, 1, tzinfo=UTC)
    name = version_name(data, 0, day)
    assert name.startswith("outage-20250301-") and len(name) == len("outage-20250301-") + 8
    assert version_name(data, 0, day) == name
    assert version_name(data, 1, day) != name
    other = write_small_corpus(tmp_path / "b", train_posts=31, test_posts=10)
    assert version_name(other, 0, day) != name


def test_steps_declare_what_they_read() -> None:
    available = {"data_dir", "out", "seed", "version", "progress"}
    for step in STEPS:
        assert set(step.inputs) <= available, step.name
        available |= set(step.outputs)
    broken = [Step("needs-model", ("model",), ("x",), lambda model: {"x": model})]
    with pytest.raises(RuntimeError, match="needs model"):
        run_steps({}, broken)
    lying = [Step("lies", (), ("x",), lambda: {"y": 1})]
    with pytest.raises(RuntimeError, match="declared"):
        run_steps({}, lying)


def test_prolific_authors_are_cut_into_fold_groups() -> None:
    authors = pd.Series(["brand"] * 25 + ["a", "b", "a"])
    groups = cv_groups(authors)
    assert len(set(groups[:25])) == 3  # chunks of 10, 10 and 5 posts
    assert groups[25] == groups[27] != groups[26]


def test_scores_count_types_only_behind_the_outage_decision() -> None:
    Y = np.zeros((4, 1 + len(TYPES)), dtype=bool)
    Y[:2, 0] = Y[:2, 1] = True
    decisions = np.zeros_like(Y)
    decisions[0, 0] = decisions[0, 1] = True
    decisions[2, 0] = True
    result = scores(Y, decisions)
    assert result["outage"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1, "tn": 1}
    )
    assert result["types"]["posting"]["recall"] == 0.5


def test_a_missing_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"corpus\.jsonl: no such file"):
        train(tmp_path, tmp_path / "out")
