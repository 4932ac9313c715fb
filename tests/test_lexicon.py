"""The word tables in their SQLite file: every known word and lemma as derived from spacy-lookups-data, read
back a word at a time, built once into the disk cache."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import spacy
from spacy.util import load_language_data, registry

from miner import cache, lexicon
from miner.lexicon import EN, FR, forms, is_known, lemma, unaccented_lemma


@pytest.mark.parametrize("lang", [FR, EN])
def test_known_forms_give_the_lookup_lemma_else_the_word_itself(lang: str) -> None:
    # The lookup table's lemma (the first of a list, as spaCy's lookup lemmatizer takes it); lemmas and stop
    # words that the table does not list are their own lemma.
    table = load_language_data(registry.lookups.get(lang)["lemma_lookup"])
    words = forms(lang)
    first = {form: found if isinstance(found, str) else found[0] for form, found in table.items()}
    assert all(words[form] == found for form, found in first.items())
    others = words.keys() - table.keys()
    assert len(others) > 1_000 and all(words[word] == word for word in others)
    assert spacy.blank(lang).Defaults.stop_words <= words.keys()


def test_the_file_holds_every_word_as_derived() -> None:
    fr, en = forms(FR), forms(EN)
    unaccented = lexicon._unaccented_lemmas(fr)
    known = {word.lower() for word in fr.keys() | en.keys() if len(word) > 1 or word in "aày"}
    with closing(sqlite3.connect(lexicon._path())) as db:
        rows = {row[0]: row[1:] for row in db.execute("SELECT * FROM words")}
    assert rows.keys() == fr.keys() | en.keys() | unaccented.keys() | known
    for word, (in_fr, in_en, folded, is_word) in rows.items():
        assert (in_fr, in_en, folded, bool(is_word)) == (
            fr.get(word),
            en.get(word),
            unaccented.get(word),
            word in known,
        )


def test_words_are_read_one_at_a_time() -> None:
    assert lemma(FR, "plantent") == "planter" and lemma(EN, "plantent") is None
    assert lemma(EN, "crashing") == "crash" and lemma("other", "crashing") == "crash"
    assert unaccented_lemma("probleme") == "problème" and unaccented_lemma("problème") is None
    assert is_known("bonjour") and is_known("please") and not is_known("plzzzz")
    assert not is_known("b") and is_known("à")  # single letters prove nothing, bar a, à, y
    assert lemma(FR, "\ud800") is None and not is_known("caf\udce9")  # lone surrogates are no words


def test_the_file_is_built_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path))
    lexicon._path.cache_clear()
    try:
        first = lexicon._path()
        assert first.parent == tmp_path and first.suffix == ".sqlite"
        lexicon._path.cache_clear()
        monkeypatch.setattr(lexicon, "_write", lambda path: pytest.fail("built twice"))
        assert lexicon._path() == first
        assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind
    finally:
        lexicon._path.cache_clear()
