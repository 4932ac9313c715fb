"""The review page through Streamlit's AppTest on a real store (SQLite and PostgreSQL): the most uncertain
post first, shown escaped; each button stores the feedback row it should; filters narrow the queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from miner import store
from miner.dashboard.quotes import escape_markdown
from miner.feedback import ACCEPT, CORRECT, NOT_OUTAGE, SKIP
from miner.labels import TYPES
from tests.dashboard.sample import SCRIPT
from tests.test_feedback import fill, make_post, prediction, saved_small_model, small_model

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "review.py")
APP_TEXT = "l'appli free plante au démarrage"

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def probs(outage: float, app: float = 0.01) -> np.ndarray:
    """A LABELS row: outage and app probabilities, every other type sure it is not that."""
    row = np.full(len(small_model().thresholds_), 0.01)
    row[0], row[3] = outage, app  # LABELS = outage, posting, dm, app, ...
    return row


@pytest.fixture
def page_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINER_DB_URL", db_url)
    monkeypatch.setenv("MINER_MODEL_DIR", str(saved_small_model(tmp_path / "model")))
    monkeypatch.setenv("MINER_REVIEWER", "alice")


@pytest.fixture
def queue(engine: Engine, page_env: None) -> Engine:
    """Four predictions of the small model: the script post on the outage threshold, an app report
    half-way to sure, two sure posts (one English, of another service)."""
    model = small_model()
    cut = model.thresholds_[0]
    rows = {
        "xss": (make_post("xss", SCRIPT, lang="en"), probs(cut, app=0.99)),
        "app": (make_post("app", APP_TEXT), probs(cut + (1 - cut) / 2, app=0.99)),
        "sure": (make_post("sure", "plus rien ne marche"), probs(0.99, app=0.99)),
        "spotify": (make_post("spotify", "great playlist", lang="en", service="spotify"), probs(0.01)),
    }
    posts = [post for post, _ in rows.values()]
    fill(
        engine, posts, [prediction(pid, p, model.thresholds_, model.version) for pid, (_, p) in rows.items()]
    )
    return engine


def run(app: AppTest | None = None) -> AppTest:
    app = app or AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def shown_post(app: AppTest) -> str:
    """The text of the post under review (the first Markdown of the main column)."""
    return app.main.columns[0].markdown[0].value


def reviews(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(store.feedback).order_by(store.feedback.c.id)).all()


def click(app: AppTest, action: str) -> AppTest:
    app.button(key=action).click()
    return run(app)


def test_most_uncertain_post_first_escaped_with_guide_and_reasons(queue: Engine) -> None:
    app = run()
    assert shown_post(app) == escape_markdown(SCRIPT)
    assert "&lt;script&gt;" in shown_post(app)
    everything = [m.value for m in app.markdown] + [c.value for c in app.caption]
    assert not any("<script" in text for text in everything)
    assert not any(m.proto.allow_html for m in app.markdown)
    assert app.caption[0].value == "Reviewed today: 0 by you, 0 by everyone · 4 posts waiting"
    assert app.markdown[1].value.startswith("**Model:** an outage report (app)")
    assert any(
        m.value.startswith("# Outage-report labels") for m in app.main.columns[-1].markdown
    )  # the guide, beside
    types, reasons = (frame.value for frame in app.dataframe)
    assert reasons["label"].iloc[0] == "outage" and len(reasons) > 0
    assert types.set_index("type")["predicted"].to_dict() == {t: t == "app" for t in TYPES}


def test_accept_stores_the_models_types(queue: Engine) -> None:
    app = click(run(), ACCEPT)
    (row,) = reviews(queue)
    model = small_model()
    assert (row.source, row.post_id, row.reviewer, row.action) == ("x", "xss", "alice", ACCEPT)
    assert (row.model_version, row.old_types, row.new_types) == (model.version, ["app"], ["app"])
    assert app.success[0].value == "Saved: accept (app)."
    assert shown_post(app) == escape_markdown(APP_TEXT)  # the next most uncertain
    assert app.caption[0].value == "Reviewed today: 1 by you, 1 by everyone · 3 posts waiting"


def test_correct_stores_the_chosen_types_and_needs_one(queue: Engine) -> None:
    app = run()
    app.multiselect(key="types-x-xss").set_value([])
    app = click(app, CORRECT)
    assert reviews(queue) == []
    assert "at least one type" in app.warning[0].value
    app.multiselect(key="types-x-xss").set_value(["login", "dm"])
    click(app, CORRECT)
    (row,) = reviews(queue)
    assert (row.action, row.old_types, row.new_types) == (CORRECT, ["app"], ["dm", "login"])


def test_not_outage_then_skip(queue: Engine) -> None:
    app = click(click(run(), NOT_OUTAGE), SKIP)
    first, second = reviews(queue)
    assert (first.post_id, first.action, first.new_types) == ("xss", NOT_OUTAGE, [])
    assert (second.post_id, second.action, second.new_types) == ("app", SKIP, None)
    assert app.success[0].value == "Skipped."
    assert (
        app.caption[0].value == "Reviewed today: 1 by you, 1 by everyone · 2 posts waiting"
    )  # a skip is no label
    assert shown_post(app) not in {escape_markdown(SCRIPT), escape_markdown(APP_TEXT)}


def test_reviewer_name_and_filters(queue: Engine) -> None:
    app = run()
    app.sidebar.text_input(key="reviewer").set_value("bob")
    app.sidebar.selectbox(key="service").set_value("spotify")
    app = run(app)
    assert shown_post(app) == "great playlist"
    assert app.sidebar.selectbox(key="incident").value is None  # no incident stored: any time
    click(app, NOT_OUTAGE)
    assert [(r.post_id, r.reviewer) for r in reviews(queue)] == [("spotify", "bob")]
    app.sidebar.selectbox(key="service").set_value("all")
    app.sidebar.radio(key="lang").set_value("en")
    assert shown_post(run(app)) == escape_markdown(SCRIPT)


def test_nothing_to_review(engine: Engine, page_env: None) -> None:
    assert "miner classify --db" in run().info[0].value


def test_a_missing_model_is_one_message(
    queue: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MINER_MODEL_DIR", str(tmp_path / "gone"))
    assert "no such model file" in run().error[0].value
