"""The reject file: where it goes, and what a line of it holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

from miner.sources.rejects import REJECT_SNIPPET_CHARS, RejectWriter, reject_path_for


def test_no_file_until_a_row_is_rejected_then_one_line_per_row(tmp_path: Path) -> None:
    writer = RejectWriter(tmp_path / "in.jsonl.rejected.jsonl")
    writer.close()
    assert not writer.path.exists()
    writer = RejectWriter(writer.path)
    writer.write(3, "malformed JSON", "{broken")
    writer.write(7, "text missing", {"id": 1, "text": "x" * (3 * REJECT_SNIPPET_CHARS)})
    writer.close()
    lines = [json.loads(line) for line in writer.path.read_text(encoding="utf-8").splitlines()]
    assert [(e["line"], e["reason"]) for e in lines] == [(3, "malformed JSON"), (7, "text missing")]
    assert lines[0]["record"] == "{broken"
    assert len(lines[1]["record"]) == REJECT_SNIPPET_CHARS


def test_rejects_go_to_cwd_when_input_folder_is_read_only(tmp_path: Path, monkeypatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.chdir(tmp_path)
    try:
        target = reject_path_for(ro / "posts.csv")
        expected = (
            tmp_path / "posts.csv.rejected.jsonl" if not _writable(ro) else ro / "posts.csv.rejected.jsonl"
        )
        assert target == expected
        assert (
            reject_path_for(ro / "posts.csv", tmp_path / "q") == tmp_path / "q" / "posts.csv.rejected.jsonl"
        )
    finally:
        ro.chmod(0o755)


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)  # root may write anywhere
