"""The dashboard end to end: app.py through Streamlit's AppTest on a real store (SQLite and PostgreSQL,
from the shared `db_url` fixture), and one run in a real browser (headless Chromium driven by Playwright)
against `streamlit run`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine, select
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from miner import store
from miner.dashboard.quotes import escape_markdown
from miner.store import incidents, posts
from tests.dashboard import sample

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


@pytest.fixture
def filled(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sample store, and MINER_DB_URL pointing at it."""
    sample.fill(engine)
    monkeypatch.setenv("MINER_DB_URL", db_url)
    return db_url


def run(app: AppTest | None = None) -> AppTest:
    """Run (or rerun) the app and fail on any exception it raised."""
    app = app or AppTest.from_file(APP, default_timeout=30)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def texts(app: AppTest) -> list[str]:
    """Everything shown as Markdown, captions included."""
    return [m.value for m in app.markdown] + [c.value for c in app.caption]


def shares_lines(app: AppTest) -> list[str]:
    """The summary lines of the two breakdowns ("What fails", then "Where it is seen") that name a type."""
    return [m.value for m in app.markdown if re.match(r"^\w+ \d+ % \(\d+\)", m.value)]


def quotes(app: AppTest) -> list[str]:
    """Quoted post texts (the Markdown inside bordered containers), in page order."""
    column = app.main.columns[2]
    return [m.value for m in column.markdown]


def chart_reports(app: AppTest) -> int:
    """Total of the `reports` column the volume chart was given."""
    chart = app.get("vega_lite_chart")[0]
    frames = [dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    return int(next(f for f in frames if "reports" in f.columns)["reports"].sum())


def test_every_panel_renders(filled: str) -> None:
    app = run()
    assert app.title[0].value == "Is free down?"
    assert app.error[0].value == "User reports indicate problems at free since 2024-06-10 12:00 CEST"
    assert chart_reports(app) == 58  # 23 hourly + 35 incident reports in the last 24 h; chatter excluded
    # each share is of the 58 reports: what fails on the left, where it is seen on the right
    assert shares_lines(app) == ["connectivity 40 % (23)", "app 43 % (25), website 17 % (10)"]
    assert [h.value for h in app.subheader][1:3] == ["What fails", "Where it is seen"]
    assert quotes(app)[:2] == [escape_markdown(sample.SCRIPT), escape_markdown(sample.APP_FR[0])]
    table = app.dataframe[0].value
    assert list(table["level"]) == ["outage", "possible"]  # newest first; the old model's incident is hidden
    assert list(table["duration"]) == ["40 min", "30 min"]
    assert table["where it is seen"].iloc[0] == "app 60 %, website 40 %"
    assert table["what fails"].iloc[0] == ""
    assert list(table["fired on"]) == ["all reports, app", "connectivity"]
    assert list(table["sensitivity"]) == ["high", "normal"]


def test_second_view_stacks_reports_by_type(filled: str) -> None:
    app = run()
    assert len(app.get("vega_lite_chart")) == 1
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "area", "line", "area", "rect"]
    app.radio(key="view").set_value("By type")
    run(app)
    (chart,) = app.get("vega_lite_chart")
    (rows,) = [dataframe_util.convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets]
    assert rows.groupby("type")["count"].sum().to_dict() == {"app": 25, "connectivity": 23, "website": 10}


def test_quotes_are_diverse_and_in_both_languages(filled: str) -> None:
    app = run()
    shown = quotes(app)
    assert len(shown) == 6
    assert not any(q.startswith("RT") for q in shown)  # the retweets repeat app report 0: collapsed onto it
    assert len(set(shown)) == 6
    assert any(q in shown for q in map(escape_markdown, sample.WEBSITE_EN))
    assert any(q in shown for q in map(escape_markdown, sample.APP_FR))


def test_filters_change_the_numbers(filled: str) -> None:
    app = run()
    app.sidebar.radio(key="lang").set_value("en")
    run(app)
    assert shares_lines(app) == ["website 83 % (10), app 17 % (2)"]
    assert "None of the 12 reports names one." in texts(app)
    assert chart_reports(app) == 12
    assert all(q not in quotes(app) for q in map(escape_markdown, sample.APP_FR))
    app.sidebar.radio(key="lang").set_value("all")
    app.sidebar.selectbox(key="type").set_value("app")
    run(app)
    assert shares_lines(app) == ["app 100 % (25)"]
    assert chart_reports(app) == 25
    app.sidebar.selectbox(key="service").set_value("orange")
    run(app)
    assert app.success[0].value == "No problems detected at orange"
    # no app report: both breakdowns and the quotes say so
    assert [i.value for i in app.info][:3] == ["No outage report in this period."] * 3
    assert app.info[3].value.startswith("No incident detected for this service")
    assert chart_reports(app) == 0
    app.sidebar.selectbox(key="type").set_value("all")
    run(app)
    assert shares_lines(app) == ["website 100 % (4)"]
    assert chart_reports(app) == 4


def free_reports(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Outage reports of "free" in [start, end), counted from the sample itself."""
    return sum(r.service == "free" and r.outage and start <= pd.Timestamp(r.at) < end for r in sample.REPORTS)


def test_windows_change_the_span(filled: str) -> None:
    app = run()
    app.sidebar.radio(key="window").set_value("All")
    run(app)
    assert chart_reports(app) == free_reports(
        pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    )
    app.sidebar.radio(key="window").set_value("Custom")
    run(app)
    app.sidebar.date_input(key="days").set_value((date(2024, 6, 8), date(2024, 6, 8)))
    run(app)
    paris_day = pd.Timestamp("2024-06-08", tz="Europe/Paris")
    assert chart_reports(app) == free_reports(paris_day, paris_day + pd.Timedelta(days=1)) == 32


def test_live_refresh_only_while_posts_are_coming_in(filled: str, engine: Engine) -> None:
    live = [c.value for c in run().sidebar.caption]
    assert any("Collector running" in c for c in live)  # the sample was ingested seconds ago
    with engine.begin() as conn:
        conn.execute(posts.update().values(ingested_at=sample.NOW))
    st.cache_data.clear()
    assert not any("Collector running" in c.value for c in run().sidebar.caption)


def test_selecting_an_incident_focuses_shares_and_quotes(filled: str, engine: Engine) -> None:
    app = run()
    assert app.sidebar.selectbox(key="incident").value is None  # whole window by default
    with engine.connect() as conn:
        past = conn.execute(
            select(incidents.c.id).where(
                incidents.c.level == "possible", incidents.c.model_version == sample.MODEL
            )
        ).scalar_one()
    app.sidebar.selectbox(key="incident").set_value(past)
    run(app)
    assert shares_lines(app)[0].startswith("connectivity 100 %")
    shown = quotes(app)
    assert shown and all("fibre" in q or "internet" in q for q in shown)
    focused = "Focused on the incident that started 2024-06-08 10:00 CEST (found by connectivity at normal"
    assert any(c.startswith(focused) for c in texts(app))


def test_script_post_is_shown_as_text(filled: str) -> None:
    app = run()
    escaped = escape_markdown(sample.SCRIPT)
    assert "&lt;script&gt;" in escaped
    assert escaped in quotes(app)
    assert not any("<script" in t for t in texts(app))
    assert not any(m.proto.allow_html for m in app.markdown)


def test_handles_only_when_stored_raw(filled: str) -> None:
    captions = [c.value for c in run().main.columns[2].caption]
    assert len(captions) == 6
    assert sum(escape_markdown(f"@{sample.HANDLE}") in c for c in captions) == 1
    assert not any("anon" in c or "@user" in c for c in captions)
    assert all("[original ↗](https://x.com/i/status/" in c for c in captions)


def test_empty_database_explains_what_to_run(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINER_DB_URL", db_url)
    app = run()
    howto = " ".join(texts(app))
    assert app.info[0].value == "The database holds no posts yet."
    for command in ("miner import", "miner classify --db", "miner collect"):
        assert command in howto
    sample.add_posts(engine, sample.REPORTS[:3])
    st.cache_data.clear()
    app = run()
    assert "none is classified yet" in app.info[0].value
    assert "miner classify --db" in " ".join(texts(app))


def test_missing_database_explains_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINER_DB_URL", f"sqlite:///{tmp_path / 'none' / 'miner.db'}")
    assert run().info[0].value == "The database holds no posts yet."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(port: int, server: subprocess.Popen, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert server.poll() is None, "streamlit exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("streamlit did not answer on its health endpoint")


@contextmanager
def sample_dashboard(tmp_path: Path) -> Iterator[int]:
    """`streamlit run app.py` on a free local port, reading the sample in a SQLite store (the AppTest tests
    cover PostgreSQL); yields the port, stops the server after."""
    db_url = f"sqlite:///{tmp_path / 'miner.db'}"
    filled = store.connect(db_url)
    sample.fill(filled)
    filled.dispose()
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            APP,
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, "MINER_DB_URL": db_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_server(port, server)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.browser
def test_dashboard_in_a_real_browser(tmp_path: Path, chromium: str) -> None:
    """One real run (SQLite only: the AppTest tests above cover PostgreSQL)."""
    from playwright.sync_api import sync_playwright

    with sample_dashboard(tmp_path) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector(
            "[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg", timeout=60_000
        )
        page.get_by_text(sample.APP_FR[0]).first.wait_for(timeout=30_000)
        assert page.get_by_text(sample.SCRIPT).count() >= 1  # visible as text, so not an element
        assert not page.evaluate("[...document.scripts].some(s => s.textContent.includes('alert(1)'))")
        assert dialogs == []
        links = page.locator("[data-testid='stSidebarNavLink']")
        names = [text.split()[-1] for text in links.all_inner_texts()]  # each link: its icon, its name
        assert names == ["Dashboard", "Overview", "Review"]
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        links.nth(2).click()
        page.get_by_text("Review predictions").first.wait_for(timeout=60_000)
        browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def test_sample_is_what_the_assertions_assume() -> None:
    """The counts asserted above, recomputed from the sample itself."""
    window = pd.Timestamp(sample.NOW) - pd.Timedelta("23h55min")
    recent = [r for r in sample.REPORTS if r.service == "free" and r.outage and pd.Timestamp(r.at) >= window]
    assert len(recent) == 58
    assert sum("app" in r.types for r in recent) == 25


def test_a_link_opens_the_page_focused_on_an_incident(filled: str) -> None:
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["service"] = "free"
    app.query_params["incident"] = "1"
    app.run()
    assert not app.exception
    assert app.session_state["incident"] == 1
    assert any("Focused on the incident" in c.value for c in app.caption)


DEMO_STEPS = [  # what `make demo` runs (see the Makefile), on a store of the test's own
    ["import", "data/demo/free-fr.csv.gz", "--service", "free", "--source", "x"],
    ["import", "data/demo/spotify-en.csv.gz", "--service", "spotify", "--source", "twcs"],
    ["classify", "--db"],
    ["detect", "--db"],
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of the demo store, built from data/demo by the `miner` commands `make demo` runs."""
    from miner.cli import main

    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'miner.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        for step in DEMO_STEPS:
            patch.setattr(sys, "argv", ["miner", *step, "--db-url", url])
            with pytest.raises(SystemExit) as done:
                main()
            assert done.value.code in (0, None), step
    return url


def test_first_view_of_the_demo_shows_the_free_tv_outage(demo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The newest post is from 2025-06-17 and its last 24 h are quiet: the page opens on the 2024-07-19 outage.
    monkeypatch.setenv("MINER_DB_URL", demo)
    app = run(AppTest.from_file(APP, default_timeout=60))
    assert app.title[0].value == "Is free down?"
    focus = app.sidebar.selectbox(key="incident")
    assert focus.value is not None and focus.format_func(focus.value).startswith(
        "2024-07-19 20:05 CEST · outage"
    )
    assert (
        app.info[0].value
        == "No incident in the last 24 h before the newest post: showing the newest incident."
    )
    assert any(
        c.value.startswith("Focused on the incident that started 2024-07-19 20:05 CEST") for c in app.caption
    )
    assert chart_reports(app) > 40  # the evening's burst of reports, not the quiet last day
    assert all("2024-07-19" in c.value for c in app.main.columns[2].caption)  # quotes from the outage
    focus.set_value(None)
    app = run(app)
    assert not app.info and chart_reports(app) < 5  # "Whole window": back to the quiet last 24 h


def test_sidebar_pages_lead_to_review(demo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINER_DB_URL", demo)
    app = run(AppTest.from_file(APP, default_timeout=60))
    app.switch_page("pages/review.py")
    app = run(app)
    assert app.title[0].value == "Review predictions"


def test_an_unusable_database_is_one_line_on_both_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINER_DB_URL", "postgresql+psycopg://miner:s3cret@127.0.0.1:1/db")  # nobody on port 1
    app = run()
    [error] = [e.value for e in app.error]
    assert error.startswith("cannot use the database") and "s3cret" not in error
    app.switch_page("pages/review.py")
    assert [e.value for e in run(app).error] == [error]
