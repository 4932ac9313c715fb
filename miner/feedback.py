"""The analyst feedback loop: which posts to review first, reviews stored as data, and their export.

Ranking is pure numpy on posts x LABELS probability matrices, so the review page and
bench/active_learning.py rank the same way; SQL stays at the edge (candidates, saving, counting,
exporting). Exported reviews are corpus rows (data/labeled format) that `miner train --with-feedback`
adds to training only: `for_training` drops any whose author belongs to the fixed test split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, String, Subquery, and_, exists, func, literal, select
from sqlalchemy.engine import Connection

from miner.errors import BadInput
from miner.labels import TYPES, split_of
from miner.store import feedback, posts, predictions

if TYPE_CHECKING:  # scikit-learn and spaCy load behind these: only callers that explain pay for them
    from miner.classify import OutageModel, Prediction

ACCEPT, CORRECT, NOT_OUTAGE, SKIP = "accept", "correct", "not_outage", "skip"
ACTIONS: tuple[str, ...] = (ACCEPT, CORRECT, NOT_OUTAGE, SKIP)
FEEDBACK_ORIGIN = "feedback"
REVIEWER_ENV = "MINER_REVIEWER"
DEFAULT_REVIEWER = "analyst"
# "Today" for the review counter: analysts work on French time, like the dashboard's default zone.
DEFAULT_TZ = "Europe/Paris"
# Newest unreviewed posts in scope that are ranked on each view: fetching and ranking 5,000 takes ~0.1 s on
# SQLite whatever the store's size, and analysts care about recent posts; older ones come up in turn.
MAX_CANDIDATES = 5_000


# ---- what to review first (pure) ---------------------------------------------------------------------------


def _relative(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Each probability's signed distance to its threshold, as a share of the room on that side:
    -1 = certain no, 0 = on the threshold, 1 = certain yes (a threshold of 0.2 leaves 0.8 above it)."""
    room = np.where(probs >= thresholds, 1 - thresholds, thresholds)
    return (probs - thresholds) / room


def margins(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How far each post is from changing its decision: 0 = on a threshold, 1 = as sure as can be.

    Not an outage report: only the outage decision counts (types are not shown). An outage report: also
    its types, each a decision of its own; when none clears its threshold the most probable is taken
    (see `classify.decide`), and then the gap to the runner-up is one more way to flip.
    """
    relative = np.abs(_relative(probs, thresholds))
    outage = relative[:, 0]
    types = relative[:, 1:].min(axis=1)
    forced = (probs[:, 1:] < thresholds[1:]).all(axis=1)
    top_two = -np.sort(-probs[:, 1:], axis=1)[:, :2]
    types = np.where(forced, np.minimum(types, top_two[:, 0] - top_two[:, 1]), types)
    return np.where(probs[:, 0] >= thresholds[0], np.minimum(outage, types), outage)


def probs_of(frame: pd.DataFrame) -> np.ndarray:
    """The posts x LABELS matrix of rows shaped like `predict_frame` output or the predictions table."""
    return frame[["outage_prob", *(f"p_{t}" for t in TYPES)]].to_numpy(float)


def rank(frame: pd.DataFrame, thresholds: np.ndarray) -> pd.DataFrame:
    """Rows most uncertain first, with their `margin`; ties keep their order (newest first from SQL)."""
    ranked = frame.assign(margin=margins(probs_of(frame), np.asarray(thresholds, float)))
    return ranked.sort_values("margin", kind="stable").reset_index(drop=True)


def predicted_types(row: Any) -> list[str]:
    """The types the model gave a stored prediction row ([] = not an outage report: `decide` gives none)."""
    return [t for t in TYPES if bool(getattr(row, f"t_{t}"))]


# ---- what to review first (SQL) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewScope:
    """Which predictions the queue draws from: one model version, optionally one service, one language
    and a [start, end) time range (e.g. an incident's)."""

    version: str
    service: str | None = None
    lang: str | None = None
    start: datetime | None = None
    end: datetime | None = None


QUEUE_COLUMNS = [
    posts.c.source,
    posts.c.id.label("post_id"),
    posts.c.text,
    posts.c.service,
    posts.c.created_at,
    posts.c.author,
    predictions.c.lang,
    predictions.c.model_version,
    predictions.c.is_outage,
    predictions.c.outage_prob,
    *(predictions.c[f"p_{t}"] for t in TYPES),
    *(predictions.c[f"t_{t}"] for t in TYPES),
]


def _reviewed() -> Any:
    """True for a post that has any feedback row, a skip included: no post is shown twice."""
    return exists().where(feedback.c.source == posts.c.source, feedback.c.post_id == posts.c.id)


def _utc(value: datetime) -> datetime:
    """Stored timestamps are UTC (SQLite compares their text form, so the bound must be UTC too)."""
    return value.astimezone(UTC)


def _predicted(scope: ReviewScope) -> Any:
    """True for a post with a prediction of the scope's version (in the scope's language, if any)."""
    found = exists().where(
        predictions.c.source == posts.c.source,
        predictions.c.post_id == posts.c.id,
        predictions.c.model_version == scope.version,
    )
    return found.where(predictions.c.lang == scope.lang) if scope.lang else found


def _newest_unreviewed(scope: ReviewScope, limit: int) -> Subquery:
    """Keys of the newest unreviewed posts in scope, and the version. Posts drive it through their (service
    and) time index, so the LIMIT stops the scan early; from predictions, every one would be sorted first."""
    version = literal(scope.version, String).label("version")
    query = select(posts.c.source, posts.c.id, version).where(_predicted(scope), ~_reviewed())
    if scope.service:
        query = query.where(posts.c.service == scope.service)
    if scope.start is not None:
        query = query.where(posts.c.created_at >= _utc(scope.start))
    if scope.end is not None:
        query = query.where(posts.c.created_at < _utc(scope.end))
    return query.order_by(posts.c.created_at.desc(), posts.c.source, posts.c.id).limit(limit).subquery()


def candidates_query(scope: ReviewScope, limit: int = MAX_CANDIDATES) -> Select:
    """SQL of `candidates`: unreviewed posts with a prediction of the scope's version, newest first.

    Predictions are looked up by primary key from the keys' own version column: compared with a constant,
    the version would lead SQLite to scan that version's predictions instead."""
    keys = _newest_unreviewed(scope, limit)
    on_prediction = and_(
        predictions.c.source == keys.c.source,
        predictions.c.post_id == keys.c.id,
        predictions.c.model_version == keys.c.version,
    )
    joined = keys.join(predictions, on_prediction).join(
        posts, and_(posts.c.source == keys.c.source, posts.c.id == keys.c.id)
    )
    return (
        select(*QUEUE_COLUMNS)
        .select_from(joined)
        .order_by(posts.c.created_at.desc(), posts.c.source, posts.c.id)
    )


def candidates(conn: Connection, scope: ReviewScope, limit: int = MAX_CANDIDATES) -> pd.DataFrame:
    """Up to `limit` unreviewed posts in scope with their prediction (rows as plain tuples: 5x faster)."""
    query = candidates_query(scope, limit)
    rows = [tuple(row) for row in conn.execute(query)]
    frame = pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])
    return frame.assign(created_at=pd.to_datetime(frame["created_at"], utc=True))  # SQLite's are naive


def review_queue(
    conn: Connection, scope: ReviewScope, thresholds: np.ndarray, limit: int = MAX_CANDIDATES
) -> pd.DataFrame:
    """Unreviewed posts in scope, the one whose label is least certain first."""
    return rank(candidates(conn, scope, limit), thresholds)


def day_start(now: datetime, tz: str = DEFAULT_TZ) -> datetime:
    """Midnight of `now`'s day in `tz`, in UTC."""
    local = pd.Timestamp(now).tz_convert(tz).normalize()
    return local.tz_convert(UTC).to_pydatetime()


def reviewed_today(
    conn: Connection, reviewer: str | None = None, now: datetime | None = None, tz: str = DEFAULT_TZ
) -> int:
    """Posts labelled since midnight in `tz` (skips are not labels), by one reviewer or by everyone."""
    query = select(func.count()).where(
        feedback.c.reviewed_at >= day_start(now or datetime.now(UTC), tz), feedback.c.action != SKIP
    )
    if reviewer is not None:
        query = query.where(feedback.c.reviewer == reviewer)
    return conn.execute(query).scalar_one()


# ---- reviews -----------------------------------------------------------------------------------------------


def new_types(action: str, old_types: Sequence[str], chosen: Sequence[str] = ()) -> list[str] | None:
    """The analyst's label for an action: the model's types, the chosen ones, none, or no label (skip)."""
    if action not in ACTIONS:
        raise BadInput(f"unknown review action {action!r}; expected one of {', '.join(ACTIONS)}")
    unknown = set(chosen) - set(TYPES)
    if unknown:
        raise BadInput(f"unknown types {', '.join(sorted(unknown))}")
    if action == CORRECT and not chosen:
        raise BadInput("a correction needs at least one type; use not_outage for a post that is no report")
    labels = {ACCEPT: old_types, CORRECT: chosen, NOT_OUTAGE: [], SKIP: None}[action]
    return None if labels is None else [t for t in TYPES if t in labels]


def review_row(
    post: Any, action: str, reviewer: str, chosen: Sequence[str] = (), now: datetime | None = None
) -> dict[str, Any]:
    """The feedback row for a review of one queue row (source, post_id, model_version, t_* flags)."""
    old = predicted_types(post)
    return {
        "source": post.source,
        "post_id": post.post_id,
        "reviewer": reviewer.strip() or DEFAULT_REVIEWER,
        "reviewed_at": now or datetime.now(UTC),
        "model_version": post.model_version,
        "action": action,
        "old_types": old,
        "new_types": new_types(action, old, chosen),
    }


def save_review(conn: Connection, row: dict[str, Any]) -> bool:
    """Store a review unless the post already has one (a double click, or a colleague was faster)."""
    seen = select(feedback.c.id).where(
        feedback.c.source == row["source"], feedback.c.post_id == row["post_id"]
    )
    if conn.execute(seen.limit(1)).first() is not None:
        return False
    conn.execute(feedback.insert().values(**row))
    return True


# ---- export ------------------------------------------------------------------------------------------------


def feedback_id(source: str, post_id: str) -> str:
    """The corpus id of a reviewed post."""
    return f"fb-{source}-{post_id}"


def labelled_query() -> Select:
    """Every non-skip review with its post's text, author and language, oldest first."""
    joined = feedback.join(
        posts, and_(posts.c.source == feedback.c.source, posts.c.id == feedback.c.post_id)
    ).outerjoin(
        predictions,
        and_(
            predictions.c.source == feedback.c.source,
            predictions.c.post_id == feedback.c.post_id,
            predictions.c.model_version == feedback.c.model_version,
        ),
    )
    columns = [feedback.c.source, feedback.c.post_id, feedback.c.new_types, posts.c.text, posts.c.author]
    return (
        select(*columns, func.coalesce(predictions.c.lang, posts.c.lang).label("lang"))  # no prediction left
        .select_from(joined)
        .where(feedback.c.action != SKIP)
        .order_by(feedback.c.reviewed_at, feedback.c.id)
    )


def corpus_records(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Corpus rows (data/labeled format) from reviews, the latest review of a post winning.

    A post stored without an author is its own author, so it lands on one side of the split alone."""
    latest = {(r.source, r.post_id): r for r in rows}
    return [_corpus_record(feedback_id(source, post_id), r) for (source, post_id), r in latest.items()]


def _corpus_record(record_id: str, row: Any) -> dict[str, Any]:
    author = row.author or record_id
    return {
        "id": record_id,
        "text": row.text,
        "lang": row.lang,
        "types": sorted(set(row.new_types)),  # sorted like build_corpus.py
        "origin": FEEDBACK_ORIGIN,
        "author": author,
        "split": split_of(author),
    }


def export(conn: Connection, out: Path) -> list[dict[str, Any]]:
    """Write every labelled review to `out` as corpus JSONL; returns the records written."""
    records = corpus_records(conn.execute(labelled_query()).all())
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return records


# ---- into training -----------------------------------------------------------------------------------------


def for_training(
    rows: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The feedback rows that may join the train split, and how many were dropped and why.

    All frames carry `norm` (normalised text) and `author`. Dropped: a row whose author is on the test
    side (by the split rule or by the corpus itself: feedback never leaks into the fixed test split), then
    a row whose text the corpus or an earlier feedback row already has.
    """
    test_authors = set(test["author"])
    on_test = rows["author"].map(lambda a: split_of(a) == "test" or a in test_authors).astype(bool)
    known = set(train["norm"]) | set(test["norm"])
    duplicate = ~on_test & (rows["norm"].isin(known) | rows["norm"].where(~on_test).duplicated())
    kept = rows[~on_test & ~duplicate].assign(split="train").reset_index(drop=True)
    counts = {
        "read": len(rows),
        "used": len(kept),
        "dropped_test_author": int(on_test.sum()),
        "dropped_duplicate": int(duplicate.sum()),
    }
    return kept, counts


def training_summary(counts: dict[str, int]) -> str:
    """One line on what became of the feedback rows, for `miner train --with-feedback`."""
    return (
        f"feedback: {counts['used']:,} of {counts['read']:,} rows added to train; dropped "
        f"{counts['dropped_test_author']:,} by test-split authors and {counts['dropped_duplicate']:,} "
        "whose text the corpus already has"
    )


# ---- why this label ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """A prediction and, for the outage label and each predicted type, the n-grams that moved it most."""

    prediction: Prediction
    thresholds: dict[str, float]
    reasons: dict[str, list[tuple[str, float]]]


def thresholds_of(model: OutageModel) -> dict[str, float]:
    """The model's decision threshold per label, by name."""
    from miner.classify import LABELS

    return dict(zip(LABELS, map(float, model.thresholds_), strict=True))


def explain(model: OutageModel, text: str, k: int = 8) -> Explanation:
    """What the model says of `text` and why: top n-grams by contribution to the calibrated log-odds."""
    prediction = model.predict([text])[0]
    labels = ["outage", *prediction.types]
    return Explanation(
        prediction=prediction,
        thresholds=thresholds_of(model),
        reasons={label: model.top_features(text, k, label) for label in labels},
    )
