"""Shared fixtures: a real SQLite store in a temp folder, a fixed author salt."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from miner import store

REQUIRE_REAL_PARTS = "MINER_REQUIRE_REAL_PARTS"
"""Set to 1 (as .ci/run does) to turn a skip for a missing system part into a failure."""


def require_real_part(found: bool, reason: str, hint: str) -> None:
    """Skip the test, with the reason and how to install the part, when a system part is missing; under
    MINER_REQUIRE_REAL_PARTS=1 fail instead, so CI never passes by skipping."""
    if found:
        return
    message = f"{reason} ({hint})"
    if os.environ.get(REQUIRE_REAL_PARTS) == "1":
        pytest.fail(f"{message}; {REQUIRE_REAL_PARTS}=1 requires it")
    pytest.skip(message)


def chromium_path() -> str | None:
    """Debian's Chromium, looked up on PATH first (chromium, chromium-browser), then at /usr/bin."""
    for name in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium() -> str:
    """Path of a headless-capable Chromium, or a loud skip."""
    path = chromium_path()
    require_real_part(path is not None, "Chromium not found on PATH", "apt-get install chromium")
    assert path is not None
    return path


@pytest.fixture(autouse=True)
def _fixed_salt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never create data/.author-salt in the repo and hash authors reproducibly."""
    monkeypatch.setenv("MINER_AUTHOR_SALT", "test-salt")
    monkeypatch.delenv("MINER_KEEP_HANDLES", raising=False)
    monkeypatch.delenv("MINER_DB_URL", raising=False)


@contextmanager
def database(kind: str, folder: Path, name: str = "miner") -> Iterator[str]:
    """URL of a fresh database of `kind`: a SQLite file `name`.db in `folder`, or a real PostgreSQL database.

    PostgreSQL comes from MINER_TEST_PG_URL (`eval "$(.ci/pg.sh start)"` sets it up); without it the
    PostgreSQL case is skipped with its reason (a failure under MINER_REQUIRE_REAL_PARTS=1).
    """
    if kind == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    admin_url = os.environ.get("MINER_TEST_PG_URL", "")
    require_real_part(
        bool(admin_url),
        "PostgreSQL not available: MINER_TEST_PG_URL is unset",
        'apt-get install postgresql, then eval "$(.ci/pg.sh start)"',
    )
    with store.throwaway_database(admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database: a SQLite file, and a real PostgreSQL database (see `database`)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty store."""
    eng = store.connect(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def fresh_streamlit_caches() -> Iterator[None]:
    """Empty Streamlit caches before and after a test, as a new server would have (dashboard tests)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()
