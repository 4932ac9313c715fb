"""A disk cache of data derived from installed packages and model files: tokenizer rules, word tables, arrays.

Building them means parsing large JSON and xz files and compiling megabytes of regular expressions, seconds
that every CLI call and dashboard start would pay again; a `marshal` file of the result loads in
milliseconds (numpy arrays are kept as their bytes: `pack_array`). An entry is keyed by what it was derived
from (the package versions its builder names, the source files of its builder and reader, the Python
version), so an upgrade or a code change builds a new one and removes the stale ones. The folder is
$MINER_CACHE_DIR, else $XDG_CACHE_HOME/outage-miner, else ~/.cache/outage-miner; when it cannot be written
the data is simply rebuilt in memory, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

CACHE_DIR_ENV = "MINER_CACHE_DIR"
KEY_CHARS = 16  # hex digits of the key in a file name: 64 bits, no collision between versions in practice
T = TypeVar("T")


def cache_dir() -> Path:
    """Where cache entries live (see the module docstring)."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "outage-miner"


def entry_path(name: str, versions: Sequence[str], source: Path | Sequence[Path]) -> Path:
    """The file of entry `name` for these package versions and this builder source (one file or several)."""
    key = hashlib.sha256()
    for part in (sys.version, str(marshal.version), *versions):
        key.update(part.encode() + b"\0")
    for file in [source] if isinstance(source, Path) else source:
        key.update(file.read_bytes())
    return cache_dir() / f"{name}-{key.hexdigest()[:KEY_CHARS]}.marshal"


def load_or_build(
    name: str, build: Callable[[], T], versions: Sequence[str], source: Path | Sequence[Path]
) -> T:
    """The cached value of `build()` (plain Python data: dict, list, str, bytes, numbers, sets), built and
    stored on first use; `versions` and the `source` files of the builder (and of what reads the value)
    key it."""
    path = entry_path(name, versions, source)
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):  # absent, unreadable, or cut short by a crash
        pass
    value = build()
    with contextlib.suppress(OSError):  # a read-only home or a full disk: the value still serves this process
        _store(name, path, lambda file: file.write_bytes(marshal.dumps(value)))
    return value


def built_file(
    name: str,
    build: Callable[[Path], None],
    versions: Sequence[str],
    source: Path | Sequence[Path],
    suffix: str,
) -> Path:
    """A cache entry that is a file of its own (e.g. a SQLite database, read piecemeal): `build(path)` writes
    it on first use; keyed like `load_or_build`. Where the cache cannot be written, it is built in a
    temporary folder for this process."""
    path = entry_path(name, versions, source).with_suffix(suffix)
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _store(name, path, build)
    except OSError:  # a read-only home or a full disk
        path = Path(tempfile.mkdtemp(prefix="outage-miner-")) / path.name
        build(path)
    return path


def _store(name: str, path: Path, write: Callable[[Path], None]) -> None:
    """Write atomically (a reader never sees half a file), then drop older entries of the same name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    for stale in path.parent.glob(f"{name}-{'?' * KEY_CHARS}{path.suffix}"):
        if stale != path:
            stale.unlink(missing_ok=True)


def package_about(package: str) -> Path:
    """The about.py of an installed package (where spaCy and spacy-lookups-data write their __version__),
    found without importing the package: as a `source` of a cache key, an upgrade builds a new entry."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the {package} package is not installed")
    return Path(spec.origin).with_name("about.py")


def pack_array(values: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """A numpy array as plain data for a cache entry: (dtype, shape, bytes)."""
    return values.dtype.str, values.shape, np.ascontiguousarray(values).tobytes()


def unpack_array(entry: Sequence, writable: bool = False) -> np.ndarray:
    """The array of a `pack_array` entry: a read-only view of the entry's bytes, or a writable copy."""
    dtype, shape, data = entry
    values = np.frombuffer(data, dtype=dtype).reshape(shape)
    return values.copy() if writable else values
