"""The outage classifier: n-gram hashing, estimator contract, thresholds from data, safe loading."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import skops.io as sio
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from miner import classify, modelfile
from miner.classify import (
    LABELS,
    NgramVectorizer,
    OutageModel,
    choose_thresholds,
    load_model,
    nb_ratios,
    prepare,
    save_model,
)
from miner.errors import ModelError
from miner.labels import TYPES
from miner.predict import decide, load_predictor

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "labeled" / "corpus.jsonl"
# Small enough to fit in a few seconds, large enough that every type has positives in each fold.
SMALL_TRAIN_POSTS = 450
FAST_PARAMS = {"char_ngrams": (2, 4), "cv": 3, "max_features": 20_000}


def small_corpus(posts: int = SMALL_TRAIN_POSTS, seed: int = 0) -> pd.DataFrame:
    """A reproducible sample of the train split, prepared (text pipeline already run)."""
    corpus = pd.read_json(CORPUS, lines=True, dtype={"id": str, "author": str})
    sample = corpus[corpus["split"] == "train"].sample(posts, random_state=seed).reset_index(drop=True)
    prepared = prepare(sample["text"].tolist(), sample["lang"].tolist())
    return pd.concat([sample, prepared[["norm", "lemmas"]]], axis=1)


def fit_small(data: pd.DataFrame, **params: object) -> OutageModel:
    model = OutageModel(**{**FAST_PARAMS, **params}, version="test-small")
    return model.fit(data, data["types"].tolist(), groups=data["author"])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return small_corpus()


@pytest.fixture(scope="module")
def model(data: pd.DataFrame) -> OutageModel:
    return fit_small(data)


def reference_ngrams(text: str, analyzer: str, ngram_range: tuple[int, int]) -> Counter[str]:
    """The n-grams NgramVectorizer should find, computed the obvious (slow) way."""
    counts: Counter[str] = Counter()
    padded = f" {text} "
    tokens = text.split(" ")
    tokens = [t for t in tokens if t]
    for n in range(ngram_range[0], ngram_range[1] + 1):
        if analyzer == "char":
            counts.update(padded[i : i + n] for i in range(len(padded) - n + 1))
        else:
            counts.update(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return counts


texts_strategy = st.lists(
    st.text(alphabet=st.sampled_from("ab é€😀"), min_size=0, max_size=12).map(lambda t: " ".join(t.split())),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(texts=texts_strategy, analyzer=st.sampled_from(["char", "word"]))
def test_hashed_ngrams_match_the_obvious_ngrams(texts: list[str], analyzer: str) -> None:
    ngram_range = (2, 4) if analyzer == "char" else (1, 2)
    vectorizer = NgramVectorizer("norm", analyzer, ngram_range, min_df=1).fit({"norm": texts})
    counts = vectorizer.transform({"norm": texts})
    for row, text in enumerate(texts):
        expected = reference_ngrams(text, analyzer, ngram_range)
        assert sorted(vectorizer.ngrams(text).values()) == sorted(expected)
        assert counts[row].nnz == len(expected)
    assert len(vectorizer.vocabulary_) == len(
        set().union(*(reference_ngrams(t, analyzer, ngram_range) for t in texts))
    )


def test_vectorizer_rows_are_tfidf_unit_vectors_and_min_df_filters() -> None:
    texts = {"norm": ["panne internet", "panne tv", "tout va bien"]}
    vectorizer = NgramVectorizer("norm", "word", (1, 1), min_df=2).fit(texts)
    assert len(vectorizer.vocabulary_) == 1  # only "panne" is in two posts
    matrix = vectorizer.transform(texts).toarray()
    np.testing.assert_allclose(matrix[:, 0], [1.0, 1.0, 0.0])


def test_estimator_contract(model: OutageModel, data: pd.DataFrame) -> None:
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "thresholds_")
    assert copy.fit(data, data["types"].tolist()) is copy
    fitted = [name for name in vars(model) if name.endswith("_")]
    assert {"features_", "coef_", "intercept_", "calibration_", "thresholds_"} <= set(fitted)
    assert model.coef_.shape[0] == len(LABELS)


def test_thresholds_come_from_the_data(model: OutageModel) -> None:
    other = fit_small(small_corpus(seed=1))
    assert model.thresholds_.shape == (len(LABELS),)
    assert not np.array_equal(model.thresholds_, other.thresholds_)
    assert ((model.thresholds_ > 0) & (model.thresholds_ < 1)).all()


def test_repeated_folds_pool_one_out_of_fold_score_per_post_and_repeat(data: pd.DataFrame) -> None:
    model = OutageModel(**FAST_PARAMS, cv_repeats=2)
    Y = classify.label_matrix(data["types"].tolist())
    oof = model._out_of_fold(data, Y, data["author"].to_numpy())
    first, second = oof[: len(data)], oof[len(data) :]
    assert oof.shape == (2 * len(data), len(LABELS))
    assert not np.allclose(first, second)  # the repeats shuffle authors into other folds
    assert np.corrcoef(first[:, 0], second[:, 0])[0, 1] > 0.8  # ...but score the same posts alike
    fitted = fit_small(data, cv_repeats=2)
    assert ((fitted.thresholds_ > 0) & (fitted.thresholds_ < 1)).all()


def test_choose_thresholds_maximises_f1_on_separable_scores() -> None:
    Y = np.zeros((8, len(LABELS)), dtype=bool)
    Y[:4, 0] = Y[:4, 1] = True
    probs = np.full(Y.shape, 0.1)
    probs[:, 0] = [0.8, 0.75, 0.7, 0.65, 0.3, 0.25, 0.2, 0.1]
    probs[:4, 1] = 0.9
    thresholds = choose_thresholds(probs, Y)
    assert 0.3 < thresholds[0] <= 0.65
    assert 0.1 < thresholds[1] <= 0.9


def test_decide_gates_types_and_falls_back_to_the_likeliest_type() -> None:
    thresholds = np.full(len(LABELS), 0.5)
    probs = np.zeros((3, len(LABELS)))
    probs[0, [0, 2]] = 0.9  # outage, dm over its threshold
    probs[1, 0], probs[1, 5] = 0.9, 0.3  # outage, no type over: likeliest is login
    probs[2, 1] = 0.9  # a type without an outage does not count
    decisions = decide(probs, thresholds)
    assert [LABELS[j] for j in np.flatnonzero(decisions[0])] == ["outage", "dm"]
    assert [LABELS[j] for j in np.flatnonzero(decisions[1])] == ["outage", "login"]
    assert not decisions[2].any()


def test_predictions_are_consistent(model: OutageModel, data: pd.DataFrame) -> None:
    texts = data["text"].tolist()[:50]
    predictions = model.predict(texts)
    assert len(predictions) == len(texts)
    for p in predictions:
        assert p.lang in ("fr", "en", "other")
        assert set(p.type_probs) == set(TYPES)
        assert (p.outage_prob >= model.thresholds_[0]) == p.is_outage
        assert bool(p.types) == p.is_outage
    frame = model.predict_frame(texts)
    assert frame["is_outage"].tolist() == [p.is_outage for p in predictions]


def test_nb_ratios_scale_up_features_that_tell_the_sides_apart() -> None:
    # columns: only in positives, in every post, only in negatives
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1]], dtype=float))
    ratios = nb_ratios(X, np.array([True, True, False, False]))
    assert ratios[0] > 0 and ratios[2] > 0
    assert ratios[1] == pytest.approx(0.0)


def test_nb_weighting_folds_its_scale_into_the_coefficients(data: pd.DataFrame) -> None:
    features = OutageModel(**FAST_PARAMS)._features()
    X = features.fit_transform(data)
    y = np.array([bool(types) for types in data["types"]])
    estimator = LogisticRegression(C=10.0, solver="liblinear", dual=True)
    coef, intercept = classify._fit_binary(estimator, X, y, nb_weighting=True)
    scaled = X @ sp.diags(nb_ratios(X, y))
    reference = clone(estimator).fit(scaled, y)
    expected = reference.decision_function(scaled)
    np.testing.assert_allclose(X @ coef + intercept, expected, rtol=1e-4, atol=1e-4)  # float32 features


def test_nb_weighted_models_save_and_load_like_the_others(data: pd.DataFrame, tmp_path: Path) -> None:
    weighted = fit_small(data, nb_weighting=True)
    save_model(weighted, tmp_path / "model.skops")
    texts = data["text"].tolist()[:50]
    np.testing.assert_array_equal(load_model(tmp_path).predict_proba(texts), weighted.predict_proba(texts))


def test_model_learns_something(model: OutageModel) -> None:
    outage = "plus d'internet depuis ce matin, la box est bloquée, aucune connexion"
    fine = "merci beaucoup pour votre aide, tout fonctionne parfaitement maintenant"
    high, low = model.predict([outage, fine])
    assert high.outage_prob > low.outage_prob


def test_top_features_explain_with_ngrams_of_the_text(model: OutageModel) -> None:
    text = "is spotify down? the app keeps crashing"
    top = model.top_features(text, k=5)
    assert 0 < len(top) <= 5
    weights = [abs(w) for _, w in top]
    assert weights == sorted(weights, reverse=True)
    norm = prepare([text])
    for name, _ in top:
        kind, gram = name.split(":", 1)
        source = norm["lemmas"][0] if kind == "word" else f" {norm['norm'][0]} "
        assert (gram if kind == "word" else gram.strip("'")) in source


def test_save_and_load_give_the_same_predictions(
    model: OutageModel, data: pd.DataFrame, tmp_path: Path
) -> None:
    save_model(model, tmp_path / "model.skops")
    loaded = load_model(tmp_path)
    texts = data["text"].tolist()[:100]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))
    assert loaded.predict(texts) == model.predict(texts)
    assert loaded.version == "test-small"


class Intruder:
    """A type no allow-list names."""


@pytest.mark.parametrize(
    "content",
    [
        pickle.dumps({"not": "skops"}),
        bytes(range(256)) * 4,
        b"",
    ],
    ids=["pickle", "random-bytes", "empty"],
)
def test_invalid_model_files_are_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "model.skops").write_bytes(content)
    with pytest.raises(ModelError, match="not a valid skops model file"):
        load_model(tmp_path)


def test_unexpected_types_are_refused(tmp_path: Path) -> None:
    sio.dump({"payload": Intruder()}, tmp_path / "model.skops")
    with pytest.raises(ModelError, match=r"unexpected types: tests\.test_classify\.Intruder"):
        load_model(tmp_path)


def test_a_skops_file_holding_something_else_is_refused(tmp_path: Path) -> None:
    sio.dump({"just": "a dict"}, tmp_path / "model.skops")
    with pytest.raises(ModelError, match="not an OutageModel"):
        load_model(tmp_path)


def test_default_model_comes_from_the_pointer_or_the_environment(
    model: OutageModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(modelfile.MODEL_DIR_ENV, raising=False)
    monkeypatch.setattr(modelfile, "MODELS_DIR", tmp_path)
    with pytest.raises(ModelError, match="no default model"):
        load_model()
    (tmp_path / "v1").mkdir()
    save_model(model, tmp_path / "v1" / "model.skops")
    (tmp_path / "DEFAULT").write_text("v1\n")
    assert load_model().version == "test-small"
    monkeypatch.setenv(modelfile.MODEL_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="no such model file"):
        load_model()


class SpacyChunks:
    """spaCy's own tokenizer where the lemmatizer expects a miner.tokenizer.ChunkTokenizer."""

    def __init__(self, lang: str) -> None:
        self.tokenizer = spacy.blank(lang).tokenizer

    def tokens(self, chunk: str) -> list[tuple[str, str]]:
        return [(token.text, token.norm_) for token in self.tokenizer(chunk)]


def test_cached_start_up_predicts_as_the_libraries_own_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI starts from the disk cache (miner.cache): spaCy's tokenizer algorithm over its cached rules,
    # py3langid's arrays, the predictor's arrays. Loading each the libraries' own way (spacy.blank,
    # py3langid's file, the model through skops and scikit-learn's transform) must give the same predictions.
    from miner import lang as language_id
    from miner import text

    corpus = pd.read_json(CORPUS, lines=True, dtype={"id": str, "author": str})
    texts = corpus["text"].iloc[::5].tolist()
    cached = load_predictor().predict(texts)
    caches = (text._lemmatizer, language_id._model)
    with monkeypatch.context() as patch:
        patch.setattr(text, "chunk_tokenizer", SpacyChunks)
        patch.setattr(language_id, "load_or_build", lambda name, build, *key: build())
        for function in caches:
            function.cache_clear()
        model = modelfile.load_skops(modelfile.model_file())
        prepared = prepare(texts)
        probs = model.predict_proba(prepared)
    for function in caches:
        function.cache_clear()
    assert len(texts) > 2_000 and prepared["lang"].tolist() == cached.langs
    np.testing.assert_allclose(cached.probs, probs, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(cached.decisions, decide(probs, model.thresholds_))
