"""The disk cache: built once, then loaded; a new version or builder source makes a new entry."""

from __future__ import annotations

import subprocess
import sys
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


def test_a_file_entry_is_built_once_atomically_and_anywhere_when_unwritable(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[Path] = []

    def write(path: Path) -> None:
        writes.append(path)
        path.write_text("rows")

    first = cache.built_file("table", write, ("1.0",), Path(__file__), suffix=".sqlite")
    assert first.parent == cache_dir and first.read_text() == "rows" and writes[0] != first  # via a temporary
    assert cache.built_file("table", write, ("1.0",), Path(__file__), suffix=".sqlite") == first
    assert len(writes) == 1 and [p.name for p in cache_dir.iterdir()] == [first.name]
    newer = cache.built_file("table", write, ("2.0",), Path(__file__), suffix=".sqlite")
    assert newer != first and not first.exists()  # the stale entry is dropped
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(blocker / "cache"))
    elsewhere = cache.built_file("table", write, ("1.0",), Path(__file__), suffix=".sqlite")
    assert elsewhere.read_text() == "rows" and blocker not in elsewhere.parents


def test_package_about_is_found_without_importing_the_package() -> None:
    probe = (
        "import sys; from miner.cache import package_about as p; p('spacy'); print('spacy' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
        == "False"
    )
    about = cache.package_about("spacy_lookups_data")
    assert about.name == "about.py" and "__version__" in about.read_text()
    with pytest.raises(ModuleNotFoundError, match="not installed"):
        cache.package_about("no_such_package_here")
