"""The prediction path of `miner classify` (miner.predict) gives the shipped model's own answers: the same
probabilities and decisions as scikit-learn's transform and the model's predict_proba on real posts, from the
model file or from its cache entry; a bad model file or cache entry is refused or read again."""

from __future__ import annotations

import marshal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from miner import cache, predict
from miner.classify import load_model, prepare
from miner.errors import ModelError
from miner.labels import LABELS
from miner.predict import Predictor, decide, load_predictor
from tests.realdata import FREE_POSTS, SPOTIFY_POSTS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
DEMO_SHARE = 4  # one demo post in four, on top of the whole labelled corpus
# The n-gram TF-IDF rows and their product with the coefficients are the same float32 numbers on both paths;
# only the final exp differs (numpy's, not scipy.special's), by an ulp or so.
PROB_TOLERANCE = 1e-12


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def real_texts() -> list[str]:
    """The labelled corpus and a sample of the demo posts: French and English, long and short, noisy."""
    corpus = pd.read_json(CORPUS, lines=True, dtype={"id": str})["text"].tolist()
    demo = [
        text
        for path in (FREE_POSTS, SPOTIFY_POSTS)
        for text in pd.read_csv(path, dtype=str, keep_default_na=False)["text"].iloc[::DEMO_SHARE]
    ]
    return corpus + demo


def test_the_predictor_answers_as_the_model_on_real_posts() -> None:
    model = load_model()
    texts = real_texts()
    prepared = prepare(texts)
    expected = model.predict_proba(prepared)  # scikit-learn's FeatureUnion and the fitted arrays
    found = load_predictor().predict(texts)
    assert len(texts) > 7_000 and found.probs.shape == (len(texts), len(LABELS))
    assert found.langs == prepared["lang"].tolist()
    np.testing.assert_allclose(found.probs, expected, rtol=0, atol=PROB_TOLERANCE)
    np.testing.assert_array_equal(found.decisions, decide(expected, model.thresholds_))
    assert 0 < found.decisions[:, 0].sum() < len(texts)


def test_a_predictor_rebuilt_from_its_state_is_the_same(cache_dir: Path) -> None:
    predictor = Predictor.from_model(load_model())
    rebuilt = Predictor.from_state(marshal.loads(marshal.dumps(predictor.state())))
    texts = real_texts()[::10]
    first, second = predictor.predict(texts), rebuilt.predict(texts)
    assert rebuilt.version == predictor.version and first.langs == second.langs
    np.testing.assert_array_equal(first.probs, second.probs)
    np.testing.assert_array_equal(first.decisions, second.decisions)


def test_second_load_comes_from_the_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_predictor()
    assert len(list(cache_dir.glob("predictor-*.marshal"))) == 1
    monkeypatch.setattr(predict, "load_skops", lambda file: pytest.fail("skops read a cached model"))
    second = load_predictor()
    texts = real_texts()[::50]
    np.testing.assert_array_equal(second.predict(texts).probs, first.predict(texts).probs)


def test_a_forged_cache_entry_falls_back_to_the_model_file(cache_dir: Path) -> None:
    expected = load_predictor().predict(["la box ne marche plus"]).probs
    [entry] = cache_dir.glob("predictor-*.marshal")
    entry.write_bytes(marshal.dumps({"version": "forged", "blocks": [{"column": "norm"}]}))
    predictor = load_predictor()
    assert predictor.version != "forged"
    np.testing.assert_array_equal(predictor.predict(["la box ne marche plus"]).probs, expected)


def test_a_model_file_holding_something_else_is_refused(cache_dir: Path, tmp_path: Path) -> None:
    sio.dump({"just": "a dict"}, tmp_path / "model.skops")
    with pytest.raises(ModelError, match="not an OutageModel"):
        load_predictor(tmp_path)


def test_no_texts_no_predictions() -> None:
    found = load_predictor().predict([])
    assert found.langs == [] and found.probs.shape == (0, len(LABELS)) and found.decisions.dtype == bool
