"""What a command imports before it answers: `miner --help` none of the heavy libraries, and `miner classify`,
once the caches are built, neither skops nor spaCy's French tokenizer exceptions (the two slow imports it
used to pay at every start), nor scikit-learn and pandas (its prediction path is miner.predict's numpy), nor
spaCy (its tokenizer's algorithm runs over cached rules: miner.tokenizer).
Times themselves are measured by bench/cold_start.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from miner import cache

HEAVY_FOR_HELP = ["pandas", "sqlalchemy", "scipy", "sklearn", "spacy", "skops", "httpx", "tweepy", "pyarrow"]
BUILDING_CACHES = ["skops.io", "spacy.lang.fr.tokenizer_exceptions"]
SLOW_FOR_CLASSIFY = [*BUILDING_CACHES, "pandas", "sklearn", "spacy"]
# Runs `miner ARGS` in-process, then prints which of the named modules it imported, on stderr's last line.
PROBE = """
import json, sys
from miner.cli import main
names, sys.argv = json.loads(sys.argv[1]), ["miner", *sys.argv[2:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps(sorted(name for name in names if name in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def run_probe(names: list[str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(names), *args], capture_output=True, text=True, timeout=300
    )
    return proc, json.loads(proc.stderr.strip().splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    proc, loaded = run_probe(HEAVY_FOR_HELP, "--help")
    assert proc.returncode == 0 and "classify" in proc.stdout
    assert loaded == []
    proc, loaded = run_probe(HEAVY_FOR_HELP, "detect", "--help")
    assert proc.returncode == 0 and "--counts" in proc.stdout
    assert loaded == []


def test_classify_skips_the_slow_imports_once_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": "1", "text": "impossible de me connecter à l'appli"}) + "\n")
    first, loaded_first = run_probe(SLOW_FOR_CLASSIFY, "classify", str(posts))
    second, loaded_second = run_probe(SLOW_FOR_CLASSIFY, "classify", str(posts))
    assert (first.returncode, second.returncode) == (0, 0), first.stderr
    assert set(BUILDING_CACHES) <= set(loaded_first)  # building the caches needs them once
    assert loaded_second == []
    assert first.stdout == second.stdout and json.loads(second.stdout)["is_outage"] is True
