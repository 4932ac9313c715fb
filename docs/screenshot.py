"""Render the README screenshot: the dashboard on the demo database, focused on its largest outage
(the Free TV outage of 2024-07-19), through the page's shareable ?service=&incident= link.

Run after `make demo`: .venv/bin/python docs/screenshot.py  (needs Debian's chromium)
"""

from __future__ import annotations

import socket
import subprocess
import sys
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


def _largest_outage() -> str:
    """The query string that focuses the page on the stored incident with the highest peak."""
    table = store.incidents
    with store.connect().connect() as conn:
        row = conn.execute(
            select(table.c.id, table.c.service).order_by(table.c.peak_count.desc()).limit(1)
        ).one()
    return f"?service={row.service}&incident={row.id}"


def main() -> None:
    link = _largest_outage()
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
            page.screenshot(path=str(ROOT / "docs" / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
