"""Predictions of a saved outage model without scikit-learn or pandas: what `miner classify` runs.

A `Predictor` holds what prediction needs of a fitted `miner.classify.OutageModel`: per n-gram block its
vocabulary as a numpy hash table and its idf, then the coefficients, intercepts, Platt calibration and
decision thresholds. It computes the same numbers as `OutageModel.predict_proba` (the same float32 TF-IDF
matrix, the same sparse product; tests/test_predict.py holds them equal on the corpus) while importing only
numpy and scipy.sparse, not scikit-learn and pandas (~1 s of every start), and hashes the character n-grams
in one pass over the batch.

`load_predictor` takes the arrays from the disk cache (miner.cache: marshal data, numbers and bytes only,
keyed by the model file's SHA-256) or, the first time, from the model read safely with skops
(miner.modelfile).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from miner import ngrams
from miner.cache import load_or_build, pack_array, unpack_array
from miner.errors import ModelError
from miner.labels import LABELS
from miner.lang import detect_langs
from miner.modelfile import load_skops, model_file
from miner.ngrams import HashTable, char_hashes, count_matrix, spans, tfidf_rows
from miner.text import lemmatize, normalize

OUTAGE_MODEL = "miner.classify.OutageModel"  # the class a model file must hold


def prepare_texts(
    texts: Sequence[str], langs: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    """The text pipeline, once per post: languages, normalised texts (char n-grams), lemmas (word n-grams)."""
    langs = detect_langs(texts) if langs is None else list(langs)
    norm = [normalize(text) for text in texts]
    return langs, norm, lemmatize(norm, langs)


def decide(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Boolean decisions for a posts x LABELS probability matrix.

    Types count only for outage reports; an outage report whose types all stay under their thresholds
    gets its most probable type, since every report is about something.
    """
    decisions = probs >= thresholds
    types = decisions[:, 1:]
    untyped = np.flatnonzero(decisions[:, 0] & ~types.any(axis=1))
    types[untyped, probs[untyped, 1:].argmax(axis=1)] = True
    types &= decisions[:, [0]]
    return decisions


@dataclass(frozen=True)
class Block:
    """One n-gram vectorizer of the model: which prepared column it reads, its n-grams and their idf."""

    column: str  # "norm" (character n-grams) or "lemmas" (word n-grams)
    analyzer: str
    ngram_range: tuple[int, int]
    table: HashTable
    idf: np.ndarray

    def features(self, texts: list[str]) -> sp.csr_matrix:
        """The block's TF-IDF rows, as the model's NgramVectorizer.transform gives them."""
        if self.analyzer == "char":
            row, hashes = char_hashes(texts, self.ngram_range)
        else:
            row, _, _, hashes = spans(texts, self.analyzer, self.ngram_range)
        column = self.table.lookup(hashes)
        known = column >= 0
        return tfidf_rows(count_matrix(row[known], column[known], len(texts), len(self.idf)), self.idf)


@dataclass(frozen=True)
class Predictions:
    """The model's answers for a batch of posts, row for row."""

    langs: list[str]
    probs: np.ndarray  # posts x LABELS, calibrated; type columns are conditional on an outage report
    decisions: np.ndarray  # posts x LABELS, booleans (see `decide`)


class Predictor:
    """A fitted OutageModel's prediction, as arrays (see the module docstring)."""

    def __init__(
        self,
        version: str,
        blocks: list[Block],
        coef: np.ndarray,
        intercept: np.ndarray,
        calibration: np.ndarray,
        thresholds: np.ndarray,
    ) -> None:
        self.version = version
        self.blocks = blocks
        # features x labels, C order: what the sparse product reads (a transposed view would be copied
        # at every call)
        self.coef_t = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        self.calibration = calibration
        self.thresholds = thresholds

    @classmethod
    def from_model(cls, model: Any) -> Predictor:
        """The arrays of a fitted miner.classify.OutageModel."""
        blocks = [
            Block(v.column, v.analyzer, tuple(v.ngram_range), HashTable.build(v.vocabulary_), v.idf_)
            for _, v in model.features_.transformer_list
        ]
        return cls(
            model.version, blocks, model.coef_, model.intercept_, model.calibration_, model.thresholds_
        )

    def predict(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> Predictions:
        """Language, calibrated probabilities and decisions of each text, in order."""
        texts = list(texts)
        if not texts:
            empty = np.zeros((0, len(LABELS)))
            return Predictions([], empty, empty.astype(bool))
        langs, norm, lemmas = prepare_texts(texts, langs)
        columns = {"norm": norm, "lemmas": lemmas}
        features = sp.hstack([block.features(columns[block.column]) for block in self.blocks], format="csr")
        scores = features @ self.coef_t + self.intercept
        # Platt scaling: scipy.special.expit's formula, without importing scipy.special
        probs = 1 / (1 + np.exp(-(scores * self.calibration[:, 0] + self.calibration[:, 1])))
        return Predictions(langs, probs, decide(probs, self.thresholds))

    def state(self) -> dict[str, Any]:
        """Plain data (numbers, strings, bytes) for the disk cache: marshal can store it, and reading it
        back runs no code."""
        blocks = [
            {
                "column": b.column,
                "analyzer": b.analyzer,
                "ngram_range": list(b.ngram_range),
                "keys": pack_array(b.table.keys),
                "columns": pack_array(b.table.columns),
                "sentinel": b.table.sentinel,
                "idf": pack_array(b.idf),
            }
            for b in self.blocks
        ]
        arrays = {"intercept": self.intercept, "calibration": self.calibration, "thresholds": self.thresholds}
        return {
            "version": self.version,
            "blocks": blocks,
            "coef": pack_array(self.coef_t.T),
            **{name: pack_array(values) for name, values in arrays.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Predictor:
        """The predictor a `state()` was taken from."""
        blocks = [
            Block(
                b["column"],
                b["analyzer"],
                (b["ngram_range"][0], b["ngram_range"][1]),
                HashTable(unpack_array(b["keys"]), unpack_array(b["columns"]), b["sentinel"]),
                unpack_array(b["idf"]),
            )
            for b in state["blocks"]
        ]
        names = ("coef", "intercept", "calibration", "thresholds")
        arrays = {name: unpack_array(state[name]) for name in names}
        return cls(state["version"], blocks, **arrays)


def load_predictor(path: str | Path | None = None) -> Predictor:
    """The predictor of a model file (see `miner.modelfile.model_file` for which): from the disk cache
    entry for the file's content, else read safely with skops, then cached."""
    file = model_file(path)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    # The entry's layout is this module's and the hash table's (miner.ngrams): both key it.
    sources = (Path(__file__), Path(ngrams.__file__))
    state = load_or_build("predictor", lambda: _read_model(file).state(), (digest,), sources)
    try:
        return Predictor.from_state(state)
    except (KeyError, IndexError, TypeError, ValueError):  # an entry that does not decode: read the file
        return _read_model(file)


def _read_model(file: Path) -> Predictor:
    """The predictor of a model file read with skops (allow-list: miner.modelfile.ALLOWED_TYPES)."""
    model = load_skops(file)
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if kind != OUTAGE_MODEL:
        raise ModelError(f"{file}: holds a {type(model).__name__}, not an OutageModel")
    return Predictor.from_model(model)
