"""Shared fixtures: a real SQLite store in a temp folder, a fixed author salt, the shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from miner import store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "external"


@pytest.fixture(autouse=True)
def _fixed_salt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never create data/.author-salt in the repo and hash authors reproducibly."""
    monkeypatch.setenv("MINER_AUTHOR_SALT", "test-salt")
    monkeypatch.delenv("MINER_KEEP_HANDLES", raising=False)
    monkeypatch.delenv("MINER_DB_URL", raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database: a SQLite file, and a real PostgreSQL database.

    PostgreSQL comes from MINER_TEST_PG_URL (`.ci/pg.sh start` sets it up); it is skipped only
    when that variable is unset outside CI.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'miner.db'}"
        return
    admin_url = os.environ.get("MINER_TEST_PG_URL")
    if not admin_url:
        if os.environ.get("CI"):
            pytest.fail("MINER_TEST_PG_URL is unset in CI: .ci/run must start PostgreSQL")
        pytest.skip("MINER_TEST_PG_URL unset: PostgreSQL tests run in CI (see .ci/pg.sh)")
    with store.throwaway_database(admin_url) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty store."""
    eng = store.connect(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real datasets beside the repository (../shared)."""
    if not SHARED.exists():
        pytest.fail(f"{SHARED} is missing: tests need ../shared beside the repository")
    return SHARED


@pytest.fixture
def fresh_streamlit_caches() -> Iterator[None]:
    """Empty Streamlit caches before and after a test, as a new server would have (dashboard tests)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()
