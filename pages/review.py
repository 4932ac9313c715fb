"""Review page: label the posts the model is least sure of, one at a time; every answer is stored as data.

    streamlit run app.py          # then "Review" in the sidebar; or: streamlit run pages/review.py

One `show_*` function per panel, as in app.py. The queue (`miner.feedback.review_queue`) is read again on
every run, so a post reviewed here or by a colleague never comes back. The buttons save in their callbacks,
which run before the next run draws the next post. Post text is untrusted: shown escaped, never as HTML.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from miner import store
from miner.classify import OutageModel, load_model
from miner.dashboard import queries
from miner.dashboard.quotes import escape_markdown
from miner.dashboard.summary import INCIDENT_BIN, incident_label, local_time
from miner.errors import MinerError
from miner.feedback import (
    ACCEPT,
    CORRECT,
    DEFAULT_REVIEWER,
    DEFAULT_TZ,
    MAX_CANDIDATES,
    NOT_OUTAGE,
    REVIEWER_ENV,
    SKIP,
    ReviewScope,
    explain,
    predicted_types,
    review_queue,
    review_row,
    reviewed_today,
    save_review,
    thresholds_of,
)
from miner.labels import LANGS, TYPES
from miner.modelfile import MODELS_DIR

GUIDE = Path(__file__).resolve().parents[1] / "data" / "labeled" / "GUIDE.md"
ALL = queries.ALL
EXPLAIN_K = 8  # n-grams per label: enough to see the cue, few enough to read at a glance
# (action, label, keyboard shortcut) in the order they sit in the row; Streamlit reserves C and R, and
# ignores shortcuts while the focus is in a text field, so typing a reviewer name triggers nothing.
BUTTONS = (
    (ACCEPT, "✓ Accept", "A"),
    (CORRECT, "✎ Save corrected types", "T"),
    (NOT_OUTAGE, "✗ Not an outage", "N"),
    (SKIP, "→ Skip", "S"),
)
NOTE = "review_note"  # session key of the line confirming the last save, shown above the next post


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One connection pool per database; migrating, since this page writes the feedback table."""
    return store.connect(url)


@st.cache_resource(show_spinner=False)
def model_for(version: str) -> OutageModel:
    """The model that made the stored predictions when it is at hand (its thresholds rank the queue and
    it explains the labels shown), else the default one ($MINER_MODEL_DIR, else models/DEFAULT)."""
    folder = MODELS_DIR / version
    return load_model(folder if folder.is_dir() else None)


def _types_key(post: Any) -> str:
    """One multiselect per post, so its default (the model's types) is fresh for each post."""
    return f"types-{post.source}-{post.post_id}"


def _save(url: str, post: Any, action: str) -> None:
    """Button callback: store the review; a refused one (bad correction, already reviewed) says why."""
    chosen = st.session_state.get(_types_key(post), []) if action == CORRECT else ()
    try:
        row = review_row(post, action, st.session_state.get("reviewer", ""), chosen)
    except MinerError as exc:
        st.session_state[NOTE] = ("warning", str(exc))
        return
    with engine(url).begin() as conn:
        stored = save_review(conn, row)
    labels = ", ".join(row["new_types"] or []) or "no type"
    text = f"Saved: {action} ({labels})." if action != SKIP else "Skipped."
    st.session_state[NOTE] = ("success", text) if stored else ("warning", "Already reviewed by someone.")


def show_filters(url: str, version: str) -> ReviewScope:
    """Sidebar: who reviews, and which posts: a service, a language, one of the service's incidents."""
    st.sidebar.text_input("Reviewer", value=os.environ.get(REVIEWER_ENV) or DEFAULT_REVIEWER, key="reviewer")
    with engine(url).connect() as conn:
        names = queries.services(conn)
    service = st.sidebar.selectbox("Service", [ALL, *names], key="service")
    lang = st.sidebar.radio("Language", [ALL, *LANGS], horizontal=True, key="lang")
    scope = ReviewScope(version, None if service == ALL else service, None if lang == ALL else lang)
    return scope if scope.service is None else _pick_incident(url, scope)


def _pick_incident(url: str, scope: ReviewScope) -> ReviewScope:
    """Sidebar: any time, or the time span of one of the service's incidents."""
    with engine(url).connect() as conn:
        incidents = queries.service_incidents(conn, scope.service, scope.version)
    labels = {row.id: incident_label(row, DEFAULT_TZ) for row in incidents.itertuples()}
    chosen = st.sidebar.selectbox(
        "Incident", [None, *labels], key="incident", format_func=lambda i: labels.get(i, "Any time")
    )
    if chosen is None:
        return scope
    incident = incidents.set_index("id").loc[chosen]
    return replace(scope, start=incident["start"], end=incident["end"] + INCIDENT_BIN)


def show_counts(url: str, waiting: int) -> None:
    """Today's progress and what is left, and the confirmation of the last save."""
    with engine(url).connect() as conn:
        mine = reviewed_today(conn, st.session_state.get("reviewer") or DEFAULT_REVIEWER)
        everyone = reviewed_today(conn)
    more = "+" if waiting >= MAX_CANDIDATES else ""
    st.caption(f"Reviewed today: {mine} by you, {everyone} by everyone · {waiting:,}{more} posts waiting")
    kind, text = st.session_state.pop(NOTE, (None, ""))
    if kind is not None:
        (st.success if kind == "success" else st.warning)(text)


def show_post(post: Any) -> None:
    """The post, escaped, with where and when it was written."""
    with st.container(border=True):
        st.markdown(escape_markdown(post.text))
        where = (post.service, post.lang or "?", local_time(post.created_at, DEFAULT_TZ))
        st.caption(" · ".join(escape_markdown(part) for part in where))


def show_prediction(post: Any, thresholds: dict[str, float]) -> None:
    """What the model said: outage or not with its probability, and every type's probability."""
    kinds = ", ".join(predicted_types(post)) or "no type"
    verdict = "an outage report" if post.is_outage else "not an outage report"
    st.markdown(
        f"**Model:** {verdict} ({kinds}), outage probability {post.outage_prob:.2f} "
        f"(threshold {thresholds['outage']:.2f})"
    )
    st.caption(f"Margin {post.margin:.2f} (0 = on a threshold, 1 = sure): why it is first in the queue.")
    table = pd.DataFrame(
        {
            "type": TYPES,
            "probability": [getattr(post, f"p_{t}") for t in TYPES],
            "threshold": [thresholds[t] for t in TYPES],
            "predicted": [t in predicted_types(post) for t in TYPES],
        }
    )
    probability = st.column_config.ProgressColumn("probability", format="%.2f", min_value=0, max_value=1)
    st.dataframe(table, hide_index=True, column_config={"probability": probability})


def show_form(url: str, post: Any) -> None:
    """The types to keep or correct, and one button per answer, in a row."""
    with st.form("review"):
        st.multiselect("Types (for a correction)", TYPES, default=predicted_types(post), key=_types_key(post))
        for column, (action, label, shortcut) in zip(st.columns(len(BUTTONS)), BUTTONS, strict=True):
            column.form_submit_button(
                label,
                key=action,
                type="primary" if action == ACCEPT else "secondary",
                on_click=_save,
                args=(url, post, action),
                width="stretch",
                shortcut=shortcut,
            )


def show_explanation(model: OutageModel, post: Any) -> None:
    """Why this label: the post's n-grams that moved each decision most (shown as data, not Markdown)."""
    with st.expander("Why this label", expanded=True):
        reasons = explain(model, post.text, EXPLAIN_K).reasons
        rows = [(label, gram, weight) for label, grams in reasons.items() for gram, weight in grams]
        st.dataframe(pd.DataFrame(rows, columns=["label", "n-gram", "weight"]), hide_index=True)
        if model.version != post.model_version:
            st.caption(f"Explained by model {escape_markdown(model.version)}, not the one that labelled it.")


def show_guide() -> None:
    """The label guide beside the post: the authority on every decision."""
    with st.expander("Label guide", expanded=True):
        st.markdown(GUIDE.read_text(encoding="utf-8"))


def main() -> None:
    """Lay out the page; say what to run when there is nothing to review yet."""
    st.set_page_config(page_title="Review · Outage miner", page_icon="📝", layout="wide")
    st.title("Review predictions")
    url = store.db_url()
    try:
        with engine(url).connect() as conn:
            version = queries.latest_model_version(conn)
    except MinerError as exc:  # a wrong MINER_DB_URL, a server down: one line, as the CLI says it
        st.error(escape_markdown(str(exc)))
        return
    if version is None:
        st.info("No classified posts yet: run `miner import` then `miner classify --db`.")
        return
    try:
        model = model_for(version)
    except MinerError as exc:
        st.error(escape_markdown(f"No model to rank and explain the posts with: {exc}"))
        return
    scope = show_filters(url, version)
    with engine(url).connect() as conn:
        queue = review_queue(conn, scope, model.thresholds_)
    show_counts(url, len(queue))
    if queue.empty:
        st.success("Nothing left to review here.")
        return
    post = next(queue.itertuples())
    thresholds = thresholds_of(model)
    left, right = st.columns([3, 2])
    with left:
        show_post(post)
        show_prediction(post, thresholds)
        show_form(url, post)
        show_explanation(model, post)
    with right:
        show_guide()


main()
