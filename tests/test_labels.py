"""The labelled corpus keeps the rules it was built to: size, language balance, written share, type coverage,
a fixed author-grouped split, and corpus.jsonl being exactly what build_corpus.py makes of the parts."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from miner.labels import LANGS, TYPES, split_of

LABELED = Path(__file__).resolve().parents[1] / "data" / "labeled"
# What the corpus must hold (issue #3): posts, least share of each trained language, most written share,
# fewest examples of each type in each language.
MIN_POSTS = 2_000
MIN_LANG_SHARE = 0.40
MAX_WRITTEN_SHARE = 0.30
MIN_TYPE_EXAMPLES = 60


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_corpus", LABELED / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    lines = (LABELED / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_corpus_file_is_what_the_parts_build(corpus: list[dict[str, Any]]) -> None:
    assert _load_builder().build() == corpus


def test_corpus_size_balance_and_written_share(corpus: list[dict[str, Any]]) -> None:
    langs = Counter(row["lang"] for row in corpus)
    written = sum(row["origin"] == "written" for row in corpus)
    assert len(corpus) >= MIN_POSTS
    for lang in LANGS:
        assert langs[lang] / len(corpus) >= MIN_LANG_SHARE, f"{lang}: {langs[lang]} of {len(corpus)}"
    assert written / len(corpus) <= MAX_WRITTEN_SHARE, f"{written} written of {len(corpus)}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_type_has_enough_examples(corpus: list[dict[str, Any]], lang: str) -> None:
    counts = Counter(t for row in corpus if row["lang"] == lang for t in row["types"])
    short = {label: counts[label] for label in TYPES if counts[label] < MIN_TYPE_EXAMPLES}
    assert not short, f"{lang} types under {MIN_TYPE_EXAMPLES} examples: {short}"


def test_rows_are_well_formed(corpus: list[dict[str, Any]]) -> None:
    ids = Counter(row["id"] for row in corpus)
    assert max(ids.values()) == 1
    for row in corpus:
        assert set(row["types"]) <= set(TYPES), row["id"]
        assert row["types"] == sorted(row["types"]), row["id"]
        assert row["origin"] in {"real", "written"}, row["id"]
        assert row["text"].strip(), row["id"]


def test_split_is_the_authors_and_no_author_is_on_both_sides(corpus: list[dict[str, Any]]) -> None:
    sides: dict[str, set[str]] = {}
    for row in corpus:
        assert row["split"] == split_of(row["author"]), row["id"]
        sides.setdefault(row["author"], set()).add(row["split"])
    assert all(len(split) == 1 for split in sides.values())


def test_reserve_posts_stay_out_of_the_corpus(corpus: list[dict[str, Any]]) -> None:
    """Posts held in reserve/ (labelled, kept out for the language balance) never leak into the corpus,
    and none is by a test-split author, so adding them later cannot change the test split."""
    in_corpus = {row["id"] for row in corpus}
    reserve = [
        json.loads(line)
        for path in sorted((LABELED / "reserve").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert reserve
    assert not in_corpus & {row["id"] for row in reserve}
    assert {split_of(row["author"]) for row in reserve} == {"train"}


def test_where_rereading_kept_every_report_a_report(corpus: list[dict[str, Any]]) -> None:
    """The where-it-is-seen re-reading only moved types: no post became or stopped being a report, `other`
    never stands beside a place it was replaced by, and the corpus holds the corrected types."""
    lines = (LABELED / "corrections_where.jsonl").read_text(encoding="utf-8").splitlines()
    fixes = [json.loads(line) for line in lines]
    by_id = {row["id"]: row for row in corpus}
    assert fixes
    for fix in fixes:
        assert bool(fix["old"]) == bool(fix["types"]), fix["id"]
        assert fix["old"] != fix["types"] and fix["reason"], fix["id"]
        assert by_id[fix["id"]]["types"] == fix["types"], fix["id"]


DEVDAY = Path(__file__).resolve().parents[1] / "data" / "devday"


@pytest.mark.parametrize("name", ["x-outage-day.jsonl", "x-outage-day-2.jsonl"])
def test_development_days_are_kept_out_of_training(corpus: list[dict[str, Any]], name: str) -> None:
    """The written outage days (data/devday) measure the model: none of their texts may be in the corpus."""
    texts = {json.loads(line)["text"] for line in (DEVDAY / name).read_text(encoding="utf-8").splitlines()}
    assert len(texts) > 900
    assert not texts & {row["text"] for row in corpus}


def test_development_day_files_are_what_their_builder_makes() -> None:
    spec = importlib.util.spec_from_file_location("build_day", DEVDAY / "build_day.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for number, (parts, seed, name) in enumerate(module.DAYS, start=1):
        lines = (DEVDAY / name).read_text(encoding="utf-8").splitlines()
        prefix = "xday" if number == 1 else f"xday{number}"
        assert module.build(parts, seed, prefix) == [json.loads(line) for line in lines], name
