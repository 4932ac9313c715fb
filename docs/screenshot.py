"""Render the README screenshots: the dashboard focused on a store's largest outage, through the page's
shareable ?service=&incident= link.

    .venv/bin/python docs/screenshot.py          # after `make demo`: the Free TV outage of 2024-07-19
    .venv/bin/python docs/screenshot.py --day    # the written X outage day (data/devday), a store of its own

Needs Debian's chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import select

from miner import store

ROOT = Path(__file__).resolve().parents[1]
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


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _largest_outage(url: str) -> str:
    """The query string that focuses the page on the stored incident with the highest peak."""
    table = store.incidents
    with store.connect(url).connect() as conn:
        row = conn.execute(
            select(table.c.id, table.c.service).order_by(table.c.peak_count.desc()).limit(1)
        ).one()
    return f"?service={row.service}&incident={row.id}"


def _day_store(folder: Path) -> str:
    """A store holding the written X outage day, classified by the shipped model, incidents detected."""
    from miner.batch import classify_stored
    from miner.incidents import update_incidents
    from miner.ingest import import_file
    from miner.predict import load_predictor
    from miner.sources.records import ColumnMap

    url = f"sqlite:///{folder / 'day.db'}"
    engine = store.connect(url)
    import_file(engine, ROOT / "data" / "devday" / "x-outage-day.jsonl", ColumnMap(source="x", service="x"))
    classify_stored(engine, load_predictor())
    update_incidents(engine)
    engine.dispose()
    return url


def main() -> None:
    if "--day" in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            url = _day_store(Path(tmp))
            render(url, ROOT / "docs" / "dashboard-x-day.png")
    else:
        render(store.db_url(), ROOT / "docs" / "dashboard.png")


def render(url: str, out: Path) -> None:
    """Serve the dashboard on `url` and save a full-page screenshot focused on its largest outage."""
    link = _largest_outage(url)
    port = _port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
        ],
        cwd=ROOT,
        env={**os.environ, "MINER_DB_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2200})
            page.goto(f"http://127.0.0.1:{port}/{link}")
            chart = "[data-testid='stVegaLiteChart']"
            page.wait_for_selector(f"{chart} canvas, {chart} svg", timeout=60_000)
            time.sleep(2)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
