"""Quarantine for input rows that cannot be used: `<input>.rejected.jsonl`, one line per row with its line
number, the reason and a prefix of the record, so a user can find and fix it while the good rows go on.

`miner import`, `miner classify` and the Dask engine all write their rejects here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Protocol

# A reject file stores a prefix of the offending record, enough to find and fix it.
REJECT_SNIPPET_CHARS = 2_000


class RejectSink(Protocol):
    """Where bad rows go: a `RejectWriter` file, or a list a Dask worker sends back to the client."""

    def write(self, line: int, reason: str, record: dict[str, Any] | str) -> None: ...


class RejectWriter:
    """Writes `<input>.rejected.jsonl` lazily: no file when every row is good."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def write(self, line: int, reason: str, record: dict[str, Any] | str) -> None:
        if self._handle is None:  # a field name or value with undecodable bytes is written escaped
            self._handle = self.path.open("w", encoding="utf-8", errors="backslashreplace")
        snippet = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False, default=str)
        entry = {"line": line, "reason": reason, "record": snippet[:REJECT_SNIPPET_CHARS]}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def reject_path_for(path: Path, reject_dir: Path | None = None) -> Path:
    """`<input>.rejected.jsonl` beside the input, or in `reject_dir` (or the current folder when
    the input's folder is read-only, as for shared datasets)."""
    name = f"{path.name}.rejected.jsonl" if path.name != "-" else "stdin.rejected.jsonl"
    if reject_dir is not None:
        return reject_dir / name
    parent = path.parent if path.name != "-" else Path.cwd()
    return parent / name if os.access(parent, os.W_OK) else Path.cwd() / name
