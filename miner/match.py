"""Which watched service a post is about, decided locally with the services' own search queries.

The X, Bluesky and Mastodon collectors ask a search API for each (term, outage word) pair of
`data/services.toml`. A stream (the Bluesky firehose) hands us every post instead, so the same pairs are
matched here: a post of language L is about service S when its text holds one of S's text terms of L
(`miner.services.text_terms`) and one of L's outage words, each as whole words. Like the search engines,
matching ignores case, accents, the apostrophe's shape ("RÉSEAU", "reseau", "can’t") and what separates
the words of a phrase.

Speed matters (the firehose carries every public post): texts are folded once, then one regex per
language says whether any outage word is there, one whether any service term is, and only the few posts
with both are tried service by service.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from miner.services import LANGS, Catalog, text_terms

# Letters with diacritics of Latin-1 Supplement and Latin Extended-A/B, folded to their base letter.
_LATIN_ACCENTED = range(0xC0, 0x250)
APOSTROPHES = "\u2019\u02bc\u00b4`"  # typographic, modifier letter, acute accent, backtick: all "'"


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {ord(a): "'" for a in APOSTROPHES}
    for code in _LATIN_ACCENTED:
        base = "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
        if base and base != chr(code) and base.isascii():
            table[code] = base.casefold()
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """Lower case, accents off, apostrophes straight: the form texts and terms are compared in."""
    text = text.casefold()
    return text if text.isascii() else unicodedata.normalize("NFC", text).translate(_FOLD)


def _phrase(term: str) -> str:
    """A folded term as a regex: its words in order, with blanks or punctuation between them (search
    engines read "free, mobile" as the words "free mobile")."""
    return r"\W+".join(re.escape(word) for word in fold(term).split())


def _any_of(terms: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of the terms as whole words (longest first, so phrases win)."""
    phrases = sorted({_phrase(t) for t in terms if t.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)") if phrases else re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class _Language:
    """The compiled rules of one language."""

    words: re.Pattern[str]  # any outage word
    terms: re.Pattern[str]  # any service's term: the cheap test before trying service by service
    services: tuple[tuple[str, re.Pattern[str]], ...]  # (service name, its terms), in catalog order


class Matcher:
    """Built once from a catalog (optionally narrowed to some services); `match` is pure and thread-safe."""

    def __init__(self, catalog: Catalog, services: Iterable[str] | None = None) -> None:
        wanted = None if services is None else {catalog.get(name).name for name in services}
        chosen = [s for s in catalog.services if wanted is None or s.name in wanted]
        self.services = tuple(s.name for s in chosen)
        self._langs = {
            lang: _Language(
                words=_any_of(catalog.outage_words[lang]),
                terms=_any_of(t for s in chosen for t in text_terms(s, lang)),
                services=tuple((s.name, _any_of(text_terms(s, lang))) for s in chosen if text_terms(s, lang)),
            )
            for lang in LANGS
        }

    def match(self, text: str, langs: Iterable[str]) -> tuple[str, str] | None:
        """(service, language) of the first service, in catalog order, that the text reports about in one
        of `langs` (fr or en, checked in the order given); None when there is none."""
        folded: str | None = None
        for lang in langs:
            rules = self._langs.get(lang)
            if rules is None:
                continue
            folded = fold(text) if folded is None else folded
            if not (rules.terms.search(folded) and rules.words.search(folded)):
                continue
            for name, terms in rules.services:
                if terms.search(folded):
                    return name, lang
        return None
