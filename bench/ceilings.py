"""Classifier ceilings: what would more data, or thread context, buy the shipped set-up?

    .venv/bin/python bench/ceilings.py [--posts data/demo/spotify-en.csv.gz]

Every model below is fitted with the shipped model's set-up and scored on the fixed test split (outage F1 /
type macro-F1). Two tables:

1. **Learning curve.** Fitted on 25, 50, 75 and 100 % of the train split's authors, then on the train split
   plus the labelled English reserve (`data/labeled/reserve/`, kept out of the corpus for the language
   balance). Scored as shipped and with the gold outage label in place of the model's ("gold gate"): an upper
   bound on type macro-F1 for these type models whatever the outage model does.
2. **Thread context.** Many English misses are replies inside a Spotify support thread ("still the same",
   "tried that already"). TWCS links each customer tweet to the brand reply it answers and each reply to the
   tweet it answered, so the customer's own earlier tweet in the thread can be found for about a third of the
   labelled Spotify posts (the brand replies are not in the export). Rows: the shipped set-up; one more
   block of word n-grams over the earlier tweet (weight CONTEXT_WEIGHT); a logistic second stage per label
   over the first stage's out-of-fold probabilities, without and with those of the earlier tweet (the
   ablation that separates stacking from context).
Figures only: nothing is asserted. About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import FeatureUnion

from miner.classify import (
    NgramVectorizer,
    OutageModel,
    choose_thresholds,
    label_matrix,
    load_model,
    prepare,
)
from miner.labels import LANGS
from miner.predict import decide
from miner.train import CV_FOLDS, _with_text_pipeline, cv_groups, scores, step_load

ROOT = Path(__file__).resolve().parents[1]
POSTS = ROOT / "data" / "demo" / "spotify-en.csv.gz"  # the TWCS Spotify export, thread links included
# Of 0.25, 0.5 and 1.0 tried on 2026-12-02, 0.25 did least harm; the block never helped.
CONTEXT_WEIGHT = 0.25
CURVE_SHARES = (0.25, 0.5, 0.75, 1.0)  # of the train split's authors, drawn in one random order
STACK_C = 1.0  # second stage: 19 dense features, ~9,000 rows; plain L2 logistic regression


def _tweet_id(link: str) -> str:
    """A TWCS thread link as a tweet id: the export writes some as floats ("2926303.0")."""
    return link.strip().split(".")[0]


def thread_parents(posts: pd.DataFrame) -> dict[str, str]:
    """tweet id -> the same customer's earlier tweet in the thread (tweet -> brand reply -> this tweet)."""
    answered_by = {
        _tweet_id(reply): tweet
        for tweet, replies in zip(posts["tweet_id"], posts["response_tweet_id"], strict=True)
        if isinstance(replies, str)
        for reply in replies.split(",")
    }
    return {
        tweet: answered_by[_tweet_id(parent)]
        for tweet, parent in zip(posts["tweet_id"], posts["in_response_to_tweet_id"], strict=True)
        if isinstance(parent, str) and _tweet_id(parent) in answered_by
    }


def earlier_tweets(rows: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    """The text pipeline over each labelled post's earlier tweet ('' when it has none, or is not Spotify)."""
    parents, text = thread_parents(posts), dict(zip(posts["tweet_id"], posts["text"], strict=True))
    tweet_ids = rows["id"].str.removeprefix("twcs-")
    earlier = [
        text[parents[t]] if i.startswith("twcs-") and t in parents else ""
        for i, t in zip(rows["id"], tweet_ids, strict=True)
    ]
    return prepare(earlier, ["en"] * len(earlier)).assign(has_context=[bool(e) for e in earlier])


class ContextModel(OutageModel):
    """The shipped model plus word n-grams of the earlier tweet (columns `ctx_lemmas`), in their own block."""

    def _features(self) -> FeatureUnion:
        union = super()._features()
        block = NgramVectorizer("ctx_lemmas", "word", self.word_ngrams, self.min_df, self.max_features)
        union.transformer_list.append(("context", block))
        union.transformer_weights = {"context": CONTEXT_WEIGHT}
        return union


def with_context(rows: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(ctx_lemmas=context["lemmas"].to_numpy())


def fit(model: OutageModel, rows: pd.DataFrame) -> OutageModel:
    return model.fit(rows, rows["types"].tolist(), groups=cv_groups(rows["author"]))


def out_of_fold(
    params: dict[str, Any], train: pd.DataFrame, context: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """First-stage probabilities of each train post and of its earlier tweet, from a model blind to the
    author."""
    Y = label_matrix(train["types"].tolist())
    post, earlier = np.zeros(Y.shape), np.zeros(Y.shape)
    folds = StratifiedGroupKFold(CV_FOLDS, shuffle=True, random_state=0)
    for fit_rows, val_rows in folds.split(train, Y[:, 0], cv_groups(train["author"])):
        model = fit(OutageModel(**params), train.iloc[fit_rows].reset_index(drop=True))
        post[val_rows] = model.predict_proba(train.iloc[val_rows])
        earlier[val_rows] = model.predict_proba(context.iloc[val_rows])
    return post, earlier


def stack_features(post: np.ndarray, earlier: np.ndarray, has: np.ndarray, use_context: bool) -> np.ndarray:
    if not use_context:
        return post
    earlier = earlier * has[:, None]
    return np.hstack([post, earlier, post * earlier, has[:, None]])


def stacked(X_train: np.ndarray, Y: np.ndarray, X_test: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Second-stage decisions on the test split; thresholds chosen on its own out-of-fold probabilities.
    Type stages learn from outage reports only, as the first stage does."""
    oof, test = np.zeros(Y.shape), np.zeros((len(X_test), Y.shape[1]))
    for j in range(Y.shape[1]):
        rows = np.ones(len(Y), bool) if j == 0 else Y[:, 0]
        folds = StratifiedGroupKFold(CV_FOLDS, shuffle=True, random_state=1).split(X_train, Y[:, 0], groups)
        for fit_rows, val_rows in folds:
            keep = np.zeros(len(Y), bool)
            keep[fit_rows] = True
            model = LogisticRegression(C=STACK_C, max_iter=2_000).fit(X_train[keep & rows], Y[keep & rows, j])
            oof[val_rows, j] = model.predict_proba(X_train[val_rows])[:, 1]
        model = LogisticRegression(C=STACK_C, max_iter=2_000).fit(X_train[rows], Y[rows, j])
        test[:, j] = model.predict_proba(X_test)[:, 1]
    return decide(test, choose_thresholds(oof, Y))


def row(
    name: str, test: pd.DataFrame, decisions: np.ndarray, subsets: dict[str, np.ndarray]
) -> dict[str, str]:
    """Outage F1 / type macro-F1 of the decisions on each subset of the test split."""
    Y, cells = label_matrix(test["types"].tolist()), {"set-up": name}
    for label, mask in subsets.items():
        result = scores(Y[mask], decisions[mask])
        cells[label] = f"{result['outage']['f1']:.3f} / {result['type_macro_f1']:.3f}"
    return cells


def by_lang(test: pd.DataFrame) -> dict[str, np.ndarray]:
    return {lang: test["lang"].eq(lang).to_numpy() for lang in LANGS}


def true_gate(probs: np.ndarray, thresholds: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Decisions with the gold outage label in place of the model's."""
    return decide(np.column_stack([Y[:, 0].astype(float), probs[:, 1:]]), np.r_[0.5, thresholds[1:]])


def learning_curve(params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Shipped and gold-gate scores per language on growing shares of train authors, then with the reserve."""
    authors = np.random.default_rng(0).permutation(np.sort(train["author"].unique().astype(str)))
    fits = {
        f"{share:.0%} of train ({int(share * len(authors)):,} authors)": train[
            train["author"].isin(authors[: int(share * len(authors))])
        ]
        for share in CURVE_SHARES
    }
    fits["train + English reserve"] = pd.concat([train, reserve_rows()], ignore_index=True)
    Y, rows = label_matrix(test["types"].tolist()), []
    for name, rows_fitted in fits.items():
        model = fit(OutageModel(**params), rows_fitted.reset_index(drop=True))
        probs = model.predict_proba(test)
        shipped = row(name, test, decide(probs, model.thresholds_), by_lang(test))
        gold = true_gate(probs, model.thresholds_, Y)
        types = {
            f"types, gold gate, {lang}": f"{scores(Y[mask], gold[mask])['type_macro_f1']:.3f}"
            for lang, mask in by_lang(test).items()
        }
        rows.append({**shipped, **types, "posts": len(rows_fitted)})
    return pd.DataFrame(rows)


def reserve_rows() -> pd.DataFrame:
    """The labelled reserve (train-side authors only, checked by tests/test_labels.py), text pipeline run."""
    files = sorted((ROOT / "data" / "labeled" / "reserve").glob("*.jsonl"))
    rows = pd.concat([pd.read_json(file, lines=True, dtype=False) for file in files], ignore_index=True)
    return _with_text_pipeline(rows.assign(split="train"))


def context_table(
    params: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame, posts: pd.DataFrame
) -> pd.DataFrame:
    """The thread-context rows (see the module docstring)."""
    ctx_train, ctx_test = earlier_tweets(train, posts), earlier_tweets(test, posts)
    has_train, has_test = ctx_train["has_context"].to_numpy(), ctx_test["has_context"].to_numpy()
    print(f"posts with an earlier tweet: {has_train.sum():,} of {len(train):,} train, ", end="")
    print(f"{has_test.sum():,} of {len(test):,} test")
    subsets = {
        **by_lang(test),
        "en real": (test["lang"].eq("en") & test["origin"].eq("real")).to_numpy(),
        "en with context": has_test,
    }
    Y_train = label_matrix(train["types"].tolist())
    base = fit(OutageModel(**params), train)
    probs = base.predict_proba(test)
    rows = [row("shipped set-up", test, decide(probs, base.thresholds_), subsets)]
    model = fit(ContextModel(**params), with_context(train, ctx_train))
    context_probs = model.predict_proba(with_context(test, ctx_test))
    rows.append(row("+ context n-grams", test, decide(context_probs, model.thresholds_), subsets))
    post_oof, earlier_oof = out_of_fold(params, train, ctx_train)
    earlier_test = base.predict_proba(ctx_test)
    for name, use in (("stacked", False), ("stacked + context", True)):
        X_train = stack_features(post_oof, earlier_oof, has_train, use)
        X_test = stack_features(probs, earlier_test, has_test, use)
        decisions = stacked(X_train, Y_train, X_test, cv_groups(train["author"]))
        rows.append(row(name, test, decisions, subsets))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--posts", type=Path, default=POSTS, help="the Spotify export (with its thread links)"
    )
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    started = time.perf_counter()
    data = step_load(ROOT / "data" / "labeled")
    train, test = data["train"], data["test"]
    params = {k: v for k, v in load_model().get_params().items() if k not in ("version", "random_state")}
    print("Learning curve: outage F1 / type macro-F1 on the test split")
    print(learning_curve(params, train, test).to_string(index=False))
    print("Thread context: outage F1 / type macro-F1 on the test split")
    print(context_table(params, train, test, pd.read_csv(args.posts, dtype=str)).to_string(index=False))
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
