"""Outage-report classifier: is a post an outage report, and of which types (see data/labeled/GUIDE.md).

Features are word n-grams over spaCy lemmas plus character n-grams over the normalised text. Both are
counted by `NgramVectorizer`, which hashes every n-gram of a whole batch at once with numpy (miner.ngrams)
and looks the hashes up in the vocabulary's hash table.

One linear model per label ("outage" and each type, one-vs-rest) scores the posts. With `nb_weighting`, each
label's model sees every feature scaled by how strongly its presence leans to one side of that label (the
log-count ratio of NB-SVM, Wang & Manning 2012); the scale is folded into the saved coefficients, so
prediction costs the same. Its decision values are
Platt-calibrated and its decision thresholds chosen to maximise F1, both on grouped out-of-fold predictions
of the training data, so neither probabilities nor thresholds are hand-set. Type models learn from outage
reports only: they answer "which part is broken", the outage model answers "is anything broken".

This module trains and explains; prediction in bulk runs the fitted arrays through miner.predict, which
needs neither scikit-learn nor pandas (`OutageModel.predictor`, `miner.predict.load_predictor`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from miner.errors import ModelError
from miner.labels import LABELS, TYPES
from miner.modelcache import load_cached
from miner.modelfile import ALLOWED_TYPES, load_skops, model_file
from miner.ngrams import count_matrix, spans, tfidf_rows
from miner.predict import Predictor, prepare_texts

# Candidate decision thresholds: a 0.01 grid is finer than the F1 curve of a few hundred positives can tell
# apart, and the ends are cut so that one odd fold cannot push a label to "always" or "never".
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
# Platt scaling fits two numbers on thousands of points: no regularisation wanted.
PLATT_C = 1e6
# liblinear's default of 100 iterations stops short of convergence (with a warning) on the weakly
# regularised plain set-ups (C=30) once the corpus passes ~10k posts; 1,000 converges on all of them.
LIBLINEAR_MAX_ITER = 1_000
# Seeds of repeated inner folds: repeat r shuffles authors with random_state + r * this step.
REPEAT_SEED_STEP = 100
# Add-alpha smoothing of the NB log-count ratios: Wang & Manning's 1; 0.25 scored the same on our folds.
NB_ALPHA = 1.0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answer for one post."""

    lang: str
    is_outage: bool
    outage_prob: float
    types: list[str]
    type_probs: dict[str, float]


def prepare(texts: Sequence[str], langs: Sequence[str] | None = None) -> pd.DataFrame:
    """The text pipeline, once per post: language, normalised text (char n-grams), lemmas (word n-grams)."""
    langs, norm, lemmas = prepare_texts(list(texts), langs)
    return pd.DataFrame({"lang": langs, "norm": norm, "lemmas": lemmas})


def _as_prepared(X: Any) -> pd.DataFrame:
    """Accept a prepared frame, a frame with `text` (and maybe `lang`), or plain texts."""
    if isinstance(X, pd.DataFrame) and {"lang", "norm", "lemmas"} <= set(X.columns):
        return X
    if isinstance(X, pd.DataFrame):
        return prepare(X["text"].tolist(), X["lang"].tolist() if "lang" in X.columns else None)
    return prepare(X)


class NgramVectorizer(TransformerMixin, BaseEstimator):
    """TF-IDF (sublinear tf, smooth idf, l2 rows) over hashed word or char n-grams of one column of X."""

    def __init__(
        self,
        column: str = "norm",
        analyzer: str = "char",
        ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_features: int | None = None,
    ) -> None:
        self.column = column
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, X: Any, y: Any = None) -> NgramVectorizer:
        """Keep n-grams in at least `min_df` posts (the `max_features` most frequent); learn their idf."""
        texts = list(X[self.column])
        row, _, _, hashes = spans(texts, self.analyzer, self.ngram_range)
        unique, column = np.unique(hashes, return_inverse=True)
        present = sp.csc_matrix(
            (np.ones(len(row), dtype=np.float32), (row, column)), (len(texts), len(unique))
        )
        df = np.diff(present.indptr)
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            keep = keep[np.argsort(-df[keep], kind="stable")[: self.max_features]]
            keep.sort()
        self.vocabulary_ = unique[keep]
        self._lookup = None
        self.idf_ = (np.log((1 + len(texts)) / (1 + df[keep])) + 1).astype(np.float32)
        return self

    def _columns(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vocabulary columns of the hashes that are in it, and a mask of which those are."""
        if getattr(self, "_lookup", None) is None:
            # pandas' hash table answers ~4x faster than a binary search of the sorted vocabulary
            self._lookup = pd.Index(self.vocabulary_)
        column = self._lookup.get_indexer(hashes)
        known = column >= 0
        return column[known], known

    def __getstate__(self) -> dict[str, Any]:
        """The lookup table is rebuilt on first use: a saved model holds only the vocabulary."""
        state = super().__getstate__()
        state.pop("_lookup", None)
        return state

    def transform(self, X: Any) -> sp.csr_matrix:
        texts = list(X[self.column])
        row, _, _, hashes = spans(texts, self.analyzer, self.ngram_range)
        column, known = self._columns(hashes)
        return tfidf_rows(count_matrix(row[known], column, len(texts), len(self.idf_)), self.idf_)

    def ngrams(self, text: str) -> dict[int, str]:
        """Vocabulary columns of the n-grams of one text, with the n-gram they stand for."""
        _, start, stop, hashes = spans([text], self.analyzer, self.ngram_range)
        column, known = self._columns(hashes)
        padded = f" {text} "
        return {int(c): padded[s:e] for c, s, e in zip(column, start[known], stop[known], strict=True)}


def label_matrix(types: Sequence[Sequence[str]]) -> np.ndarray:
    """Boolean posts x LABELS matrix from each post's type list (no type = not an outage report)."""
    Y = np.zeros((len(types), len(LABELS)), dtype=bool)
    for i, post_types in enumerate(types):
        for label in post_types:
            Y[i, LABELS.index(label)] = True
    Y[:, 0] = Y[:, 1:].any(axis=1)
    return Y


def _f1_per_threshold(probs: np.ndarray, truth: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """F1 of `gate & (probs >= t)` against `truth` for each t of THRESHOLD_GRID."""
    predicted = (probs[:, None] >= THRESHOLD_GRID[None, :]) & gate[:, None]
    tp = (predicted & truth[:, None]).sum(axis=0)
    denominator = predicted.sum(axis=0) + truth.sum()
    return np.divide(2 * tp, denominator, out=np.zeros(len(THRESHOLD_GRID)), where=denominator > 0)


def _best_threshold(probs: np.ndarray, truth: np.ndarray, gate: np.ndarray) -> float:
    """The F1-maximising threshold; the middle of the best plateau, so ties do not favour an extreme."""
    f1 = _f1_per_threshold(probs, truth, gate)
    best = np.flatnonzero(f1 == f1.max())
    return float(THRESHOLD_GRID[best[len(best) // 2]])


def choose_thresholds(probs: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per-label thresholds maximising F1 of the final decisions: the outage label alone, then each type
    among the posts the chosen outage threshold lets through (its errors are what the types live with)."""
    thresholds = np.empty(len(LABELS))
    thresholds[0] = _best_threshold(probs[:, 0], Y[:, 0], np.ones(len(Y), dtype=bool))
    is_outage = probs[:, 0] >= thresholds[0]
    for j in range(1, len(LABELS)):
        thresholds[j] = _best_threshold(probs[:, j], Y[:, j], is_outage)
    return thresholds


def nb_ratios(X: sp.csr_matrix, y: np.ndarray) -> np.ndarray:
    """|log-count ratio| of each feature column: how much likelier a post of the label is to contain it than
    a post without the label (add-NB_ALPHA smoothed). Features that tell the sides apart are scaled up."""
    present = X.astype(bool).astype(np.float64)
    p = NB_ALPHA + np.asarray(present[y].sum(axis=0)).ravel()
    q = NB_ALPHA + np.asarray(present[~y].sum(axis=0)).ravel()
    return np.abs(np.log(p / p.sum()) - np.log(q / q.sum()))


def _fit_binary(
    estimator: BaseEstimator, X: sp.csr_matrix, y: np.ndarray, nb_weighting: bool = False
) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of a linear model on X, or on X scaled by `nb_ratios` with the scale folded
    back into the coefficients; a label with one class in `y` gets a constant score."""
    if y.all() or not y.any():
        return np.zeros(X.shape[1]), (1.0 if y.all() else -1.0)
    scale = nb_ratios(X, y) if nb_weighting else np.ones(X.shape[1])
    fitted = clone(estimator).fit(X @ sp.diags(scale), y)
    return fitted.coef_.ravel() * scale, float(fitted.intercept_[0])


def _platt(decisions: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling (a, b) with P(y | d) = expit(a * d + b), fitted on out-of-fold decision values."""
    if y.all() or not y.any():
        return 0.0, (10.0 if y.all() else -10.0)
    fitted = LogisticRegression(C=PLATT_C).fit(decisions[:, None], y)
    return float(fitted.coef_[0, 0]), float(fitted.intercept_[0])


class OutageModel(BaseEstimator):
    """Outage-report and outage-type classifier over posts in French and English.

    `model` is "logreg" (LogisticRegression) or "svm" (LinearSVC); either way its decision values are
    Platt-calibrated on out-of-fold predictions, like CalibratedClassifierCV(method="sigmoid",
    ensemble=False) but with folds grouped by author, pooled over `cv_repeats` reshuffles of the folds
    (a single split moves the chosen thresholds by a few hundredths). `char_ngrams=None` drops the
    character n-grams;
    `nb_weighting` scales features by their NB log-count ratio for each label before its fit.
    """

    def __init__(
        self,
        model: str = "logreg",
        C: float = 30.0,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        max_features: int | None = 100_000,
        class_weight: str | None = "balanced",
        nb_weighting: bool = False,
        cv: int = 5,
        cv_repeats: int = 1,
        random_state: int = 0,
        version: str = "dev",
    ) -> None:
        self.model = model
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.class_weight = class_weight
        self.nb_weighting = nb_weighting
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.random_state = random_state
        self.version = version

    def _features(self) -> FeatureUnion:
        parts = [
            ("word", NgramVectorizer("lemmas", "word", self.word_ngrams, self.min_df, self.max_features))
        ]
        if self.char_ngrams is not None:
            parts.append(
                ("char", NgramVectorizer("norm", "char", self.char_ngrams, self.min_df, self.max_features))
            )
        return FeatureUnion(parts)

    def _linear(self) -> BaseEstimator:
        if self.model == "logreg":
            return LogisticRegression(
                C=self.C,
                class_weight=self.class_weight,
                solver="liblinear",
                dual=True,
                max_iter=LIBLINEAR_MAX_ITER,
            )
        if self.model == "svm":
            return LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=LIBLINEAR_MAX_ITER)
        raise ValueError(f"model must be 'logreg' or 'svm', got {self.model!r}")

    def _fit_linear(self, data: pd.DataFrame, Y: np.ndarray) -> tuple[FeatureUnion, np.ndarray, np.ndarray]:
        """Features and one linear model per label; type models see outage reports only."""
        features = self._features()
        X, nb = features.fit_transform(data), self.nb_weighting
        fits = [_fit_binary(self._linear(), X, Y[:, 0], nb)]
        fits += [_fit_binary(self._linear(), X[Y[:, 0]], Y[Y[:, 0], j], nb) for j in range(1, len(LABELS))]
        return features, np.vstack([coef for coef, _ in fits]), np.array([b for _, b in fits])

    def _out_of_fold(self, data: pd.DataFrame, Y: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Decision values of each post from models that never saw its author, once per repeat of the
        grouped folds (each repeat shuffles authors into folds anew): (cv_repeats * posts) x LABELS."""
        decisions = np.zeros((self.cv_repeats, *Y.shape))
        for repeat in range(self.cv_repeats):
            seed = self.random_state + REPEAT_SEED_STEP * repeat
            folds = StratifiedGroupKFold(self.cv, shuffle=True, random_state=seed)
            for train, val in folds.split(data, Y[:, 0], groups):
                features, coef, intercept = self._fit_linear(data.iloc[train], Y[train])
                decisions[repeat, val] = features.transform(data.iloc[val]) @ coef.T + intercept
        return decisions.reshape(-1, Y.shape[1])

    def fit(self, X: Any, y: Sequence[Sequence[str]], groups: Sequence[Any] | None = None) -> OutageModel:
        """Learn from texts (or a frame with `text`, `lang`) and their type lists; `groups` (authors) keep
        one author's posts in one fold, as the test split does."""
        data = _as_prepared(X)
        Y = label_matrix(y)
        groups = np.arange(len(Y)) if groups is None else np.asarray(groups)
        oof, pooled = self._out_of_fold(data, Y, groups), np.tile(Y, (self.cv_repeats, 1))
        rows = [slice(None)] + [pooled[:, 0]] * len(TYPES)  # type probabilities are given an outage report
        self.calibration_ = np.array([_platt(oof[r, j], pooled[r, j]) for j, r in enumerate(rows)])
        self.thresholds_ = choose_thresholds(self._calibrated(oof), pooled)
        self.features_, coef, self.intercept_ = self._fit_linear(data, Y)
        self.coef_ = coef.astype(np.float32)
        self._predictor = None
        return self

    def _calibrated(self, decisions: np.ndarray) -> np.ndarray:
        return expit(decisions * self.calibration_[:, 0] + self.calibration_[:, 1])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated posts x LABELS probabilities; type columns are conditional on an outage report."""
        data = _as_prepared(X)
        return self._calibrated(self.features_.transform(data) @ self.coef_.T + self.intercept_)

    def predictor(self) -> Predictor:
        """The fitted model as a miner.predict.Predictor, built once: the prediction path of the CLI."""
        if getattr(self, "_predictor", None) is None:
            self._predictor = Predictor.from_model(self)
        return self._predictor

    def __getstate__(self) -> dict[str, Any]:
        """A saved model holds its fitted arrays, not the predictor built from them."""
        state = super().__getstate__()
        state.pop("_predictor", None)
        return state

    def predict_frame(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> pd.DataFrame:
        """Vectorised predictions: lang, is_outage, outage_prob, p_<type> and t_<type> columns."""
        found = self.predictor().predict(texts, langs)
        probs, decisions = found.probs, found.decisions
        frame = pd.DataFrame({"lang": found.langs, "is_outage": decisions[:, 0], "outage_prob": probs[:, 0]})
        for j, label in enumerate(TYPES, start=1):
            frame[f"p_{label}"] = probs[:, j]
        for j, label in enumerate(TYPES, start=1):
            frame[f"t_{label}"] = decisions[:, j]
        return frame

    def predict(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[Prediction]:
        """One Prediction per text, in order."""
        return [prediction_from_row(row) for row in self.predict_frame(texts, langs).to_dict("records")]

    def top_features(self, text: str, k: int = 10, label: str = "outage") -> list[tuple[str, float]]:
        """The k n-grams of `text` that move `label`'s calibrated log-odds most, with their contribution."""
        j = LABELS.index(label)
        data = prepare([text])
        x = self.features_.transform(data).tocsr()
        contribution = x.data * self.coef_[j, x.indices] * self.calibration_[j, 0]
        names = self._feature_names(data)
        order = np.argsort(-np.abs(contribution), kind="stable")[:k]
        return [(names[x.indices[i]], round(float(contribution[i]), 4)) for i in order]

    def _feature_names(self, data: pd.DataFrame) -> dict[int, str]:
        """Readable names of the columns one prepared post has, e.g. `word:plus internet`, `char:' pann'`."""
        names, offset = {}, 0
        for name, vectorizer in self.features_.transformer_list:
            for column, gram in vectorizer.ngrams(data[vectorizer.column].iloc[0]).items():
                names[offset + column] = f"{name}:{gram.strip() if name == 'word' else repr(gram)}"
            offset += len(vectorizer.vocabulary_)
        return names


def prediction_from_row(row: dict[str, Any]) -> Prediction:
    """A Prediction from one row of `OutageModel.predict_frame`."""
    return Prediction(
        lang=row["lang"],
        is_outage=bool(row["is_outage"]),
        outage_prob=float(row["outage_prob"]),
        types=[label for label in TYPES if row[f"t_{label}"]],
        type_probs={label: float(row[f"p_{label}"]) for label in TYPES},
    )


def load_model(path: str | Path | None = None) -> OutageModel:
    """Load a model from a skops file, refusing anything but our own types on top of skops' safe ones; later
    loads of the same file are rebuilt from the disk cache, without importing skops (miner.modelcache)."""
    file = model_file(path)
    model = load_cached(file, lambda: load_skops(file), ALLOWED_TYPES)
    if not isinstance(model, OutageModel):
        raise ModelError(f"{file}: holds a {type(model).__name__}, not an OutageModel")
    return model


def save_model(model: OutageModel, file: Path) -> None:
    """Write a fitted model as a compressed skops file (never pickle: loading it runs no code)."""
    import skops.io as sio

    sio.dump(model, file, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
