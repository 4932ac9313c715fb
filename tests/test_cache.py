"""The disk cache: built once, then loaded; a new version or builder source makes a new entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from miner import cache


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(folder))
    return folder


class Builder:
    """Counts its calls, so a test sees whether the value came from the cache."""

    def __init__(self, value: object) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def test_built_once_then_loaded_equal(cache_dir: Path) -> None:
    value = {"forms": {"été": "être"}, "words": frozenset({"panne"}), "data": b"\x00\x01", "n": (1, 2.5)}
    build = Builder(value)
    assert cache.load_or_build("lexicon", build, ("1.0",), Path(__file__)) == value
    assert cache.load_or_build("lexicon", build, ("1.0",), Path(__file__)) == value
    assert build.calls == 1
    assert len(list(cache_dir.glob("lexicon-*.marshal"))) == 1


def test_new_version_or_source_rebuilds_and_drops_the_stale_entry(cache_dir: Path, tmp_path: Path) -> None:
    build = Builder([1, 2, 3])
    source = tmp_path / "builder.py"
    source.write_text("# v1\n")
    cache.load_or_build("table", build, ("1.0",), source)
    cache.load_or_build("table", build, ("1.1",), source)
    source.write_text("# v2\n")
    cache.load_or_build("table", build, ("1.1",), source)
    assert build.calls == 3
    assert len(list(cache_dir.glob("table-*.marshal"))) == 1


def test_entries_of_other_names_stay(cache_dir: Path) -> None:
    cache.load_or_build("lexicon-fr", Builder(1), ("1.0",), Path(__file__))
    cache.load_or_build("lexicon", Builder(2), ("2.0",), Path(__file__))
    assert len(list(cache_dir.glob("*.marshal"))) == 2


def test_a_damaged_entry_is_rebuilt(cache_dir: Path) -> None:
    build = Builder({"a": 1})
    cache.load_or_build("table", build, ("1.0",), Path(__file__))
    [entry] = cache_dir.glob("table-*.marshal")
    entry.write_bytes(entry.read_bytes()[:3])  # a crash mid-write cannot do this (atomic rename); a disk can
    assert cache.load_or_build("table", build, ("1.0",), Path(__file__)) == {"a": 1}
    assert build.calls == 2


def test_an_unwritable_cache_still_gives_the_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(blocker / "cache"))
    build = Builder("value")
    assert cache.load_or_build("table", build, ("1.0",), Path(__file__)) == "value"
    assert cache.load_or_build("table", build, ("1.0",), Path(__file__)) == "value"
    assert build.calls == 2


def test_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "outage-miner"
