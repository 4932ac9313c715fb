"""The "What is down now" page through Streamlit's AppTest on a real store (SQLite and PostgreSQL), and in a
real browser (headless Chromium): every watched service listed, worst first, each linking to its page."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from miner.dashboard.quotes import escape_markdown
from miner.services import load_services
from tests.dashboard import sample
from tests.test_app import APP, CHROMIUM_ARGS, filled, sample_dashboard  # noqa: F401 (filled: a fixture)

PAGE = "pages/overview.py"

pytestmark = pytest.mark.usefixtures("fresh_streamlit_caches")


def open_page() -> AppTest:
    """The overview as a user reaches it: the app first, then its page (links resolve against the app)."""
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def links(app: AppTest) -> list[tuple[str, str]]:
    """(label, query string) of each service link, in page order."""
    return [(link.proto.label, link.proto.query_string) for link in app.get("page_link")]


@pytest.mark.usefixtures("filled")
def test_every_watched_service_links_to_its_page_worst_first() -> None:
    app = open_page()
    assert app.title[0].value == "What is down now"
    catalog = load_services()
    shown = links(app)
    assert sorted(shown) == sorted(
        (escape_markdown(s.display), f"service={s.name}") for s in catalog.services
    )
    assert shown[:2] == [("Free", "service=free"), ("Orange", "service=orange")]  # then the silent ones
    free, orange = [m.value for m in app.markdown][:3], [m.value for m in app.markdown][3:6]
    assert free[0] == ":red[● **outage**]  \nsince 2024-06-10 12:00 CEST"
    assert free[1].startswith("**27 reports**  \nusual ") and free[2] == "app 43 %"
    assert orange == [":green[● ok]", orange[1], "website 100 %"] and orange[1].startswith("**0 reports**")
    assert len(app.get("vega_lite_chart")) == 2  # a sparkline for each service with posts
    assert [c.value for c in app.caption].count("no posts yet") == len(catalog.services) - 2


@pytest.mark.usefixtures("filled")
def test_a_service_only_the_store_knows_is_listed_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = tmp_path / "services.toml"
    services.write_text('[outage_words]\nfr = ["panne"]\n\n[[services]]\nname = "sfr"\nterms.fr = ["sfr"]\n')
    monkeypatch.setenv("MINER_SERVICES", str(services))
    assert links(open_page()) == [
        ("free", "service=free"),
        ("orange", "service=orange"),
        ("sfr", "service=sfr"),
    ]


@pytest.mark.usefixtures("filled")
def test_a_broken_services_file_is_said_and_the_stored_services_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MINER_SERVICES", str(tmp_path / "missing.toml"))
    app = open_page()
    assert "no such services file" in app.warning[0].value
    assert [label for label, _ in links(app)] == ["free", "orange"]


def test_an_empty_store_says_how_to_listen(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINER_DB_URL", db_url)
    app = open_page()
    assert "make live" in app.info[0].value and links(app) == []
    sample.add_posts(engine, sample.REPORTS[:3])
    st.cache_data.clear()
    assert "none is classified yet" in open_page().info[0].value


@pytest.mark.browser
def test_overview_in_a_real_browser(tmp_path: Path, chromium: str) -> None:
    """From the service page to the overview (the sidebar link) and on to another service by its link."""
    from playwright.sync_api import sync_playwright

    with sample_dashboard(tmp_path) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("heading", name="Is free down?").wait_for(timeout=60_000)
        page.get_by_role("link", name="Overview").click()
        page.get_by_role("heading", name="What is down now").wait_for(timeout=30_000)
        for service in load_services().services:
            page.get_by_role("link", name=service.display, exact=True).wait_for(timeout=30_000)
        page.locator("[data-testid='stVegaLiteChart']").nth(1).wait_for(timeout=30_000)  # Free's and Orange's
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        page.get_by_role("link", name="Orange", exact=True).click()
        page.get_by_role("heading", name="Is orange down?").wait_for(timeout=30_000)
        assert "service=orange" in page.url
        browser.close()
    assert (tmp_path / "overview.png").stat().st_size > 10_000
