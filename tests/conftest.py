"""Shared fixtures: a real SQLite store in a temp folder, a fixed author salt, the shared data."""

from __future__ import annotations

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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'miner.db'}"


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
