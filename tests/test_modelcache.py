"""A model rebuilt from the disk cache is the model skops loads: same arrays, same predictions; the cache
refuses classes outside the allow-list and falls back to skops."""

from __future__ import annotations

import json
import marshal
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miner import cache, classify, modelcache
from miner.classify import load_model
from miner.modelfile import ALLOWED_TYPES

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
SAMPLE_POSTS = 2_000


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def fitted_state(model: classify.OutageModel) -> dict[str, object]:
    """Every attribute of the model and of its vectorizers, arrays as lists, for an exact comparison."""
    state = {key: value for key, value in vars(model).items() if key != "features_"}
    for name, vectorizer in model.features_.transformer_list:
        state |= {f"{name}.{key}": value for key, value in vars(vectorizer).items() if key != "_lookup"}
    return {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in state.items()}


def test_second_load_comes_from_the_cache_and_is_the_same_model(cache_dir: Path, monkeypatch) -> None:
    first = load_model()
    assert len(list(cache_dir.glob("model-*.marshal"))) == 1
    monkeypatch.setattr(classify, "load_skops", lambda file: pytest.fail("skops loaded a cached model"))
    second = load_model()
    assert type(second) is classify.OutageModel and second is not first
    assert fitted_state(second) == fitted_state(first)
    assert second.coef_.flags.writeable  # as skops gives it: a caller may modify its copy
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    texts = texts[:: len(texts) // SAMPLE_POSTS]
    assert second.predict_frame(texts).equals(first.predict_frame(texts))


def test_a_class_outside_the_allow_list_is_never_rebuilt() -> None:
    forged = (modelcache.ESTIMATOR, "subprocess.Popen", {"args": ["true"]})
    with pytest.raises(modelcache.NotCacheable, match="refusing"):
        modelcache.decode(forged, ALLOWED_TYPES)
    not_estimator = (modelcache.ESTIMATOR, "sklearn.utils.check_array", {})
    with pytest.raises(modelcache.NotCacheable, match="not an estimator"):
        modelcache.decode(not_estimator, ALLOWED_TYPES)


def test_a_forged_cache_entry_falls_back_to_skops(cache_dir: Path) -> None:
    expected = fitted_state(load_model())
    [entry] = cache_dir.glob("model-*.marshal")
    entry.write_bytes(marshal.dumps((modelcache.ESTIMATOR, "os.system", {"command": "echo owned"})))
    assert fitted_state(load_model()) == expected


def test_values_it_cannot_encode_are_refused() -> None:
    model = LogisticRegression()
    model.odd_ = {1: "an int key"}
    with pytest.raises(modelcache.NotCacheable):
        modelcache.encode(model)
    with pytest.raises(modelcache.NotCacheable):
        modelcache.encode(np.array(["text"], dtype=object))


def test_encode_decode_round_trip_keeps_types() -> None:
    model = LogisticRegression(C=3.0, class_weight={"a": 1.5})
    model.coef_ = np.arange(6, dtype=np.float32).reshape(2, 3)
    model.classes_ = np.array([0, 1])
    model.n_iter_ = np.array([7], dtype=np.int32)
    rebuilt = modelcache.decode(marshal.loads(marshal.dumps(modelcache.encode(model))), ())
    assert type(rebuilt) is LogisticRegression and rebuilt.get_params() == model.get_params()
    assert rebuilt.coef_.dtype == np.float32 and rebuilt.coef_.shape == (2, 3)
    np.testing.assert_array_equal(rebuilt.coef_, model.coef_)
    assert rebuilt.n_iter_.dtype == np.int32
