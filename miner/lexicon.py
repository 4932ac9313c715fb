"""The French and English words the text pipeline knows, in a SQLite file of the disk cache.

What miner.text asks of them: the lemma of a word in one language (spacy-lookups-data's lookup table: the
first lemma of a form, as spaCy's lookup lemmatizer gives it; lemmas and stop words are their own), the lemma
of an accent-less French spelling ("probleme" -> "problème"), and whether a string is a known word at all
(the repairs of the Free export's line breaks rest on it). The tables are derived once per install from
spacy-lookups-data (a few seconds for French) into one SQLite file (miner.cache.built_file), then read a word
at a time: classifying a post asks for a few words, whereas loading the 750,000 entries as Python dicts took
~0.3 s of every start and ~230 MB of memory.
"""

from __future__ import annotations

import sqlite3
import threading
import unicodedata
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from miner.cache import built_file, package_about

FR, EN = "fr", "en"
# Answers remembered per question (lemma, accent-less lemma, known word): posts reuse the same words, and
# the Free export's repairs ask about the same slices of a word again and again. ~100 bytes each.
MEMO_SIZE = 1 << 17
_SCHEMA = """CREATE TABLE words (
    word TEXT PRIMARY KEY,
    fr TEXT,  -- lemma in the French lookup table, NULL if it is not a known French form
    en TEXT,
    fr_unaccented TEXT,  -- the one French lemma whose accent-less spelling this is
    known INTEGER NOT NULL  -- a French or English word (lower case; single letters but a, à, y are not)
) WITHOUT ROWID"""


@lru_cache(maxsize=MEMO_SIZE)
def lemma(lang: str, word: str) -> str | None:
    """The lookup table's lemma of `word` in `lang` ("fr", else English), None if the table lacks it."""
    return _column(FR if lang == FR else EN, word)


@lru_cache(maxsize=MEMO_SIZE)
def unaccented_lemma(word: str) -> str | None:
    """The French lemma an accent-less spelling stands for, when a single lemma folds to it."""
    return _column("fr_unaccented", word)


@lru_cache(maxsize=MEMO_SIZE)
def is_known(word: str) -> bool:
    """A known French or English word."""
    return bool(_column("known", word))


def _column(column: str, word: str) -> str | int | None:
    try:
        row = _connection().execute(f"SELECT {column} FROM words WHERE word = ?", (word,)).fetchone()
    except UnicodeEncodeError:  # a lone surrogate: no word of the tables has one
        return None
    return None if row is None else row[0]


_local = threading.local()  # one read-only connection per thread (Streamlit serves sessions in threads)


def _connection() -> sqlite3.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None:
        uri = f"{_path().as_uri()}?mode=ro&immutable=1"
        connection = _local.connection = sqlite3.connect(uri, uri=True)
    return connection


@lru_cache(maxsize=1)
def _path() -> Path:
    """The SQLite file, keyed by this module and the versions of spaCy and spacy-lookups-data (their
    about.py), read without importing them."""
    sources = (Path(__file__), package_about("spacy"), package_about("spacy_lookups_data"))
    return built_file("lexicon", _write, (), sources, suffix=".sqlite")


def _write(path: Path) -> None:
    """Build the SQLite file of every known word (see the module docstring)."""
    fr, en = forms(FR), forms(EN)
    unaccented = _unaccented_lemmas(fr)
    known = {word.lower() for word in fr.keys() | en.keys() if len(word) > 1 or word in "aày"}
    rows = (
        (word, fr.get(word), en.get(word), unaccented.get(word), word in known)
        for word in sorted(fr.keys() | en.keys() | unaccented.keys() | known)
    )
    with closing(sqlite3.connect(path)) as db:
        db.execute(_SCHEMA)
        db.executemany("INSERT INTO words VALUES (?, ?, ?, ?, ?)", rows)
        db.commit()


def forms(lang: str) -> dict[str, str]:
    """Every word spaCy and spacy-lookups-data know for `lang` -> its lemma: the lookup table's lemma for its
    forms (French lists lemmas: the first, as spaCy), itself for lemmas and stop words."""
    import spacy
    from spacy.util import load_language_data, registry

    tables = registry.lookups.get(lang)
    data = load_language_data(tables["lemma_lookup"])
    table = {form: found if isinstance(found, str) else found[0] for form, found in data.items()}
    words = {word: word for word in spacy.blank(lang).Defaults.stop_words}
    for lemmas in load_language_data(tables["lemma_index"]).values():
        words.update((word, word) for word in lemmas)
    words.update((word, word) for word in table.values())
    words.update(table)
    return words


def _unaccented_lemmas(words: dict[str, str]) -> dict[str, str]:
    """Lemma of an accent-less spelling ("probleme" -> "problème") when a single lemma folds to it."""
    lemmas: dict[str, set[str]] = {}
    for form, base in words.items():
        folded = _fold_accents(form)
        if folded != form:
            lemmas.setdefault(folded, set()).add(base)
    return {folded: next(iter(found)) for folded, found in lemmas.items() if len(found) == 1}


def _fold_accents(word: str) -> str:
    """ "problème" -> "probleme", "ça" -> "ca"."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
