"""`miner.feedback`: uncertainty ranking, the review queue and its scope, reviews as data, their export, and
how exported reviews join training (train split only, deduplicated against the corpus)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from miner import store
from miner import train as train_module
from miner.classify import LABELS, THRESHOLD_GRID, OutageModel, save_model
from miner.errors import BadInput
from miner.feedback import (
    ACCEPT,
    CORRECT,
    NOT_OUTAGE,
    SKIP,
    ReviewScope,
    candidates,
    explain,
    export,
    margins,
    new_types,
    rank,
    review_queue,
    review_row,
    reviewed_today,
    save_review,
    split_of,
    training_summary,
)
from miner.labels import TYPES
from miner.post import Post
from miner.predict import decide
from miner.privacy import author_key
from tests.test_classify import fit_small, small_corpus
from tests.test_train import write_small_corpus

ROOT = Path(__file__).resolve().parents[1]
VERSION = "v1"
T0 = datetime(2024, 6, 10, 10, 0, tzinfo=UTC)  # 12:00 in Paris
THRESHOLDS = np.array([0.4] + [0.5] * len(TYPES))
EVERYTHING = ReviewScope(VERSION)  # the whole queue of the test model version
# Probability rows (LABELS order) and their margins under THRESHOLDS, most uncertain first.
PROBS = {
    "forced": ({"outage": 0.99, "app": 0.30, "website": 0.29}, 0.01),  # no type clears: app vs website
    "noise": ({"outage": 0.39, "app": 0.5}, 0.025),  # not a report: its type scores do not count
    "near": ({"outage": 0.42, "app": 0.9}, 0.0333),
    "types": ({"outage": 0.99, "app": 0.52, "website": 0.9}, 0.04),
    "sure_no": ({"outage": 0.05}, 0.875),
    "sure_yes": ({"outage": 0.95, "app": 0.95}, 0.9),
}


def probs_row(values: dict[str, float]) -> np.ndarray:
    """A LABELS row: the given probabilities, 0.01 elsewhere."""
    return np.array([values.get(label, 0.01) for label in LABELS])


@functools.cache
def small_model() -> OutageModel:
    """A fast model on 300 train posts, fitted once per test process (the page and CLI tests share it)."""
    return fit_small(small_corpus(posts=300))


def saved_small_model(folder: Path) -> Path:
    """The small model as a version folder."""
    folder.mkdir(parents=True, exist_ok=True)
    save_model(small_model(), folder / "model.skops")
    return folder


def make_post(post_id: str, text: str = "", **fields: Any) -> Post:
    defaults = {"created_at": T0, "service": "free", "lang": "fr", "author": author_key(f"a-{post_id}")}
    return Post(source="x", id=post_id, text=text or f"post {post_id}", **{**defaults, **fields})


def prediction(
    post_id: str,
    probs: np.ndarray,
    thresholds: np.ndarray = THRESHOLDS,
    version: str = VERSION,
    lang: str = "",
) -> dict[str, Any]:
    """A model's output for a post, whose flags follow from the probabilities as `classify.decide` sets them
    (`fill` makes it a stored row)."""
    flags = decide(probs[None, :], thresholds)[0]
    return {
        "source": "x",
        "post_id": post_id,
        "model_version": version,
        "lang": lang,
        "is_outage": bool(flags[0]),
        "outage_prob": float(probs[0]),
        **{f"p_{t}": float(p) for t, p in zip(TYPES, probs[1:], strict=True)},
        **{f"t_{t}": bool(f) for t, f in zip(TYPES, flags[1:], strict=True)},
        "classified_at": T0,
    }


def fill(engine: Engine, posts: Sequence[Post], predictions: Sequence[dict[str, Any]]) -> None:
    """Store the posts, and the predictions (of `prediction`) as `miner classify --db` writes them."""
    by_id = {post.id: post for post in posts}
    rows = [store.prediction_row(by_id[p["post_id"]], p, p["model_version"], T0) for p in predictions]
    with engine.begin() as conn:
        store.insert_posts(conn, posts)
        conn.execute(store.predictions.insert(), rows)


def add_review(
    engine: Engine,
    post_id: str,
    action: str = ACCEPT,
    reviewer: str = "ana",
    at: datetime = T0,
    types: Sequence[str] = ("app",),
) -> None:
    """A feedback row written directly, as any client may (two reviewers at once, an older client)."""
    row = {"source": "x", "post_id": post_id, "reviewer": reviewer, "reviewed_at": at, "action": action}
    new = None if action == SKIP else list(types)
    with engine.begin() as conn:
        conn.execute(
            store.feedback.insert().values(**row, model_version=VERSION, old_types=[], new_types=new)
        )


def as_utc(stamp: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def queue_ids(engine: Engine, scope: ReviewScope = EVERYTHING) -> list[str]:
    with engine.connect() as conn:
        return review_queue(conn, scope, THRESHOLDS)["post_id"].tolist()


@pytest.fixture
def ranked_store(engine: Engine) -> Engine:
    """The PROBS posts, plus one with a prediction of another model version only."""
    posts = [make_post(name) for name in [*PROBS, "old_only"]]
    rows = [prediction(name, probs_row(values)) for name, (values, _) in PROBS.items()]
    fill(engine, posts, [*rows, prediction("old_only", probs_row({"outage": 0.4}), version="v0")])
    return engine


# ---- ranking (pure) ----------------------------------------------------------------------------------------


def test_margins_put_the_most_uncertain_first() -> None:
    probs = np.vstack([probs_row(values) for values, _ in PROBS.values()])
    expected = [margin for _, margin in PROBS.values()]
    assert margins(probs, THRESHOLDS) == pytest.approx(expected, abs=1e-3)
    frame = pd.DataFrame(probs, columns=["outage_prob", *(f"p_{t}" for t in TYPES)]).assign(name=list(PROBS))
    shuffled = frame.sample(frac=1, random_state=1)
    assert rank(shuffled, THRESHOLDS)["name"].tolist() == list(PROBS)


def test_rank_keeps_the_given_order_between_ties() -> None:
    frame = pd.DataFrame(
        [probs_row({"outage": 0.05})] * 3, columns=["outage_prob", *(f"p_{t}" for t in TYPES)]
    ).assign(name=["newest", "middle", "oldest"])
    assert rank(frame, THRESHOLDS)["name"].tolist() == ["newest", "middle", "oldest"]


probability_rows = st.lists(
    st.lists(st.floats(0, 1), min_size=len(LABELS), max_size=len(LABELS)), min_size=1, max_size=5
)
threshold_rows = st.lists(st.sampled_from(list(THRESHOLD_GRID)), min_size=len(LABELS), max_size=len(LABELS))


@given(probability_rows, threshold_rows)
def test_margins_stay_between_zero_and_one(rows: list[list[float]], thresholds: list[float]) -> None:
    probs, cut = np.array(rows), np.array(thresholds)
    found = margins(probs, cut)
    assert ((found >= 0) & (found <= 1 + 1e-9)).all()
    on_threshold = probs.copy()
    on_threshold[:, 0] = cut[0]
    assert (margins(on_threshold, cut) == 0).all()


def test_new_types_follow_the_action() -> None:
    assert new_types(ACCEPT, ["app", "dm"]) == ["dm", "app"]  # the taxonomy's order
    assert new_types(CORRECT, ["app"], ["login", "dm"]) == ["dm", "login"]
    assert new_types(NOT_OUTAGE, ["app"]) == []
    assert new_types(SKIP, ["app"]) is None
    with pytest.raises(BadInput, match="unknown review action"):
        new_types("maybe", [])
    with pytest.raises(BadInput, match="unknown types outages"):
        new_types(CORRECT, [], ["outages"])
    with pytest.raises(BadInput, match="at least one type"):
        new_types(CORRECT, ["app"], [])


def test_split_rule_is_the_corpus_one() -> None:
    """The rule feedback uses gives every corpus author the split the corpus file records."""
    corpus = pd.read_json(ROOT / "data" / "labeled" / "corpus.jsonl", lines=True, dtype={"author": str})
    for author, split in corpus[["author", "split"]].drop_duplicates().itertuples(index=False):
        assert split_of(author) == split


# ---- the queue ---------------------------------------------------------------------------------------------


def test_queue_ranks_the_scope_version_most_uncertain_first(ranked_store: Engine) -> None:
    assert queue_ids(ranked_store) == list(PROBS)  # "old_only" has no prediction of VERSION


def test_a_reviewed_post_never_comes_back_skip_included(ranked_store: Engine) -> None:
    add_review(ranked_store, "forced", ACCEPT)
    add_review(ranked_store, "near", SKIP)
    assert queue_ids(ranked_store) == ["noise", "types", "sure_no", "sure_yes"]


def test_queue_restricts_to_service_language_and_time(engine: Engine) -> None:
    posts = [
        make_post("fr_free"),
        make_post("en_free", lang="fr"),  # detected "fr" at import, "en" by the classifier: its word wins
        make_post("fr_orange", service="orange"),
        make_post("early", created_at=T0 - timedelta(hours=2)),
        make_post("late", created_at=T0 + timedelta(hours=2)),
    ]
    rows = [
        prediction(p.id, probs_row({"outage": 0.5}), lang="en" if p.id == "en_free" else "") for p in posts
    ]
    fill(engine, posts, rows)
    assert sorted(queue_ids(engine, ReviewScope(VERSION, service="orange"))) == ["fr_orange"]
    assert sorted(queue_ids(engine, ReviewScope(VERSION, lang="en"))) == ["en_free"]
    in_hour = ReviewScope(
        VERSION, service="free", lang="fr", start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)
    )
    assert sorted(queue_ids(engine, in_hour)) == ["fr_free"]
    with engine.connect() as conn:
        assert candidates(conn, ReviewScope(VERSION), limit=2)["post_id"].tolist() == ["late", "en_free"]


def test_today_counts_labels_since_local_midnight(engine: Engine) -> None:
    midnight_paris = datetime(2024, 6, 9, 22, 0, tzinfo=UTC)
    add_review(engine, "a", at=midnight_paris + timedelta(minutes=30))
    add_review(engine, "b", at=T0, reviewer="bea")
    add_review(engine, "c", at=T0, action=SKIP)  # a skip is no label
    add_review(engine, "d", at=midnight_paris - timedelta(minutes=30))  # yesterday in Paris
    with engine.connect() as conn:
        assert reviewed_today(conn, now=T0) == 2
        assert reviewed_today(conn, "ana", now=T0) == 1
        assert reviewed_today(conn, "ana", now=T0, tz="UTC") == 0


# ---- reviews as data ---------------------------------------------------------------------------------------


def stored_reviews(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(store.feedback).order_by(store.feedback.c.id)).all()


def test_reviews_store_who_when_model_and_both_labels(ranked_store: Engine) -> None:
    with ranked_store.connect() as conn:
        first, second = review_queue(conn, ReviewScope(VERSION), THRESHOLDS).head(2).itertuples()
    with ranked_store.begin() as conn:
        assert save_review(conn, review_row(first, CORRECT, "ana", ["dm"], now=T0))
        assert save_review(conn, review_row(second, NOT_OUTAGE, "  ", now=T0))
        assert not save_review(conn, review_row(first, ACCEPT, "bea"))  # reviewed already
    rows = stored_reviews(ranked_store)
    assert [(r.post_id, r.reviewer, r.action, r.model_version) for r in rows] == [
        ("forced", "ana", CORRECT, VERSION),
        ("noise", "analyst", NOT_OUTAGE, VERSION),  # a blank name falls back to the default
    ]
    assert (rows[0].old_types, rows[0].new_types) == (["app"], ["dm"])  # the forced type was "app"
    assert (rows[1].old_types, rows[1].new_types) == ([], [])
    assert as_utc(rows[0].reviewed_at) == T0


def test_export_writes_corpus_rows(engine: Engine, tmp_path: Path) -> None:
    posts = [make_post("p1", "l'appli plante"), make_post("p2", "all good", author=""), make_post("p3")]
    preds = [
        prediction("p1", probs_row({"outage": 0.9, "app": 0.9}), lang="en"),  # the classifier's lang wins
        prediction("p2", probs_row({"outage": 0.1})),
        prediction("p3", probs_row({"outage": 0.1})),
    ]
    fill(engine, posts, preds)
    add_review(engine, "p1", NOT_OUTAGE, at=T0, types=())
    add_review(engine, "p1", ACCEPT, at=T0 + timedelta(minutes=1))  # a colleague's later review wins
    add_review(engine, "p2", NOT_OUTAGE, types=())
    add_review(engine, "p3", SKIP)
    with engine.connect() as conn:
        records = export(conn, tmp_path / "out" / "feedback.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out" / "feedback.jsonl").read_text().splitlines()]
    assert lines == records
    author = posts[0].author
    assert lines == [
        {"id": "fb-x-p1", "text": "l'appli plante", "lang": "en", "types": ["app"], "origin": "feedback",
         "author": author, "split": split_of(author)},
        {"id": "fb-x-p2", "text": "all good", "lang": "fr", "types": [], "origin": "feedback",
         "author": "fb-x-p2", "split": split_of("fb-x-p2")},  # no stored author: the post is its own
    ]  # fmt: skip


# ---- into training -----------------------------------------------------------------------------------------


def author_on(side: str) -> str:
    """A pseudonymised author whose split is `side`."""
    return next(a for a in (author_key(f"user{i}") for i in range(1000)) if split_of(a) == side)


def export_reviews(folder: Path, texts: dict[str, tuple[str, str, str]]) -> Path:
    """A feedback file from a real store: per post id (text, author, lang), all corrected to "app"."""
    engine = store.connect(f"sqlite:///{folder / 'miner.db'}")
    posts = [make_post(pid, text, author=author, lang=lang) for pid, (text, author, lang) in texts.items()]
    fill(engine, posts, [prediction(p.id, probs_row({"outage": 0.2})) for p in posts])
    with engine.begin() as conn:
        for row in candidates(conn, ReviewScope(VERSION)).itertuples():
            save_review(conn, review_row(row, CORRECT, "ana", ["app"]))
        export(conn, folder / "feedback.jsonl")
    engine.dispose()
    return folder / "feedback.jsonl"


@pytest.fixture(scope="module")
def trained_with_feedback(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick training run on a tiny corpus plus four exported reviews; records every fitted row."""
    data = write_small_corpus(tmp_path_factory.mktemp("data"), train_posts=240, test_posts=80)
    corpus = pd.read_json(data / "corpus.jsonl", lines=True)
    test_texts = corpus.loc[corpus["split"] == "test", "text"]
    known = next(t for t in test_texts if t.isascii() and "#" not in t)  # upper case changes nothing else
    train_side, test_side = author_on("train"), author_on("test")
    texts = {
        "new1": ("l'appli free plante au démarrage depuis la mise à jour", train_side, "fr"),
        "new2": ("the app crashes every time I open it since the update", train_side, "en"),
        "known": (f"  {known.upper()}  ", train_side, "en"),  # in the corpus, in other case and spacing
        "leak": ("l'application free refuse de s'ouvrir ce soir", test_side, "fr"),
    }
    feedback = export_reviews(tmp_path_factory.mktemp("fb"), texts)
    fitted: list[set[str]] = []
    real_fit = train_module._fit

    def spying_fit(params: dict, rows: pd.DataFrame, seed: int, version: str = "dev") -> OutageModel:
        fitted.append(set(rows["id"]))
        return real_fit(params, rows, seed, version)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_module, "SETUPS", {"quick": {"char_ngrams": None, "cv": 3, "max_features": 20_000}})
        mp.setattr(train_module, "CV_FOLDS", 3)
        mp.setattr(train_module, "_fit", spying_fit)
        out = tmp_path_factory.mktemp("models") / "v-fb"
        context = train_module.train(data, out, feedback=feedback)
    return {"context": context, "fitted": fitted, "out": out, "feedback": feedback}


def test_feedback_joins_training_only(trained_with_feedback: dict[str, Any]) -> None:
    final_fit = trained_with_feedback["fitted"][-1]
    assert {"fb-x-new1", "fb-x-new2"} <= final_fit
    assert not {"fb-x-known", "fb-x-leak"} & set().union(*trained_with_feedback["fitted"])
    context = trained_with_feedback["context"]
    assert not context["test"]["id"].str.startswith("fb-").any()
    assert context["test_scores"]["all"]["posts"] == 80  # the fixed test split, nothing added


def test_metrics_count_used_and_dropped_feedback(trained_with_feedback: dict[str, Any]) -> None:
    metrics = json.loads((trained_with_feedback["out"] / "metrics.json").read_text())
    assert metrics["corpus_sizes"]["feedback"] == {
        "all": 2, "fr": 1, "en": 1, "read": 4, "used": 2, "dropped_test_author": 1, "dropped_duplicate": 1,
    }  # fmt: skip
    assert metrics["corpus_sizes"]["train"]["all"] == 240  # the corpus' own count is unchanged
    assert training_summary(metrics["corpus_sizes"]["feedback"]) == (
        "feedback: 2 of 4 rows added to train; dropped 1 by test-split authors and 1 whose text the corpus "
        "already has"
    )
    assert "| feedback | 2 | 1 | 1 |" in (trained_with_feedback["out"] / "MODEL_CARD.md").read_text()


def test_feedback_changes_the_version_name(trained_with_feedback: dict[str, Any]) -> None:
    data = trained_with_feedback["context"]["data_dir"]
    with_feedback = train_module.version_name(data, 0, T0, feedback=trained_with_feedback["feedback"])
    assert with_feedback != train_module.version_name(data, 0, T0)


def test_a_missing_or_empty_feedback_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_small_corpus(tmp_path / "data", train_posts=30, test_posts=10)
    with pytest.raises(BadInput, match=r"nope\.jsonl: no such file"):
        train_module.train(data, tmp_path / "out", feedback=tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    loaded = train_module.step_load(data)
    result = train_module.step_feedback(loaded["train"], loaded["test"], loaded["sizes"], empty)
    assert len(result["train"]) == 30
    assert result["sizes"]["feedback"]["used"] == 0


# ---- why this label ----------------------------------------------------------------------------------------


def test_explain_gives_reasons_for_the_outage_label_and_each_type() -> None:
    model = small_model()
    text = "plus d'internet depuis ce matin, la box clignote"
    explanation = explain(model, text, k=4)
    assert list(explanation.reasons) == ["outage", *explanation.prediction.types]
    assert explanation.thresholds["outage"] == pytest.approx(float(model.thresholds_[0]))
    for grams in explanation.reasons.values():
        assert 0 < len(grams) <= 4
        assert [abs(w) for _, w in grams] == sorted((abs(w) for _, w in grams), reverse=True)
    assert explanation.reasons["outage"] == model.top_features(text, 4, "outage")
