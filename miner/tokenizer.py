"""spaCy's tokenizers for French and English, rebuilt from cached rules in a fraction of a second.

`spacy.blank("fr")` imports spacy.lang.fr, whose tokenizer exceptions compile a 1.4 MB `token_match` regex
(a hundred alternatives such as "^anti-[letters]...$", each spelling out the whole Unicode alphabet as a
character class): ~2.5 s at every start. Here the tokenizer's rules (prefix, suffix, infix and URL patterns,
special cases) are kept in the disk cache (miner.cache), and `token_match` becomes a `LazyTokenMatch`, which
gives the same answers and compiles only the alternatives a word could match. tests/test_tokenizer.py holds
the tokens to spacy.blank's on the labelled corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miner.cache import load_or_build

if TYPE_CHECKING:
    from spacy.tokenizer import Tokenizer

# Character classes longer than this are the alphabet-sized ones; the quick twin of a pattern widens them to
# "." (the short ones, hyphens and apostrophes, are what makes the twin selective, and stay).
WIDE_CLASS_CHARS = 100
# The tokenizer's regexes, kept as pattern text and compiled again, and the method of each it calls
# (token_match is kept apart).
PATTERNS = {
    "prefix_search": "search",
    "suffix_search": "search",
    "infix_finditer": "finditer",
    "url_match": "match",
}


class LazyTokenMatch:
    """A `token_match` regex made of top-level alternatives, tried one alternative at a time on need.

    Each alternative has a quick twin whose long character classes are widened to ".", so whatever the
    alternative matches the twin matches too: a word no twin matches (nearly every word) matches nothing,
    and only the alternatives whose twin matched are tried. Such an alternative is compiled for the word at
    hand, each long class narrowed to the word's own characters that it holds (`_for_text`): the same answer,
    for a compilation of a fraction of a millisecond where the whole alternative takes ~9 ms (Python's re
    expands a class of the whole Unicode alphabet on every compilation). `known` holds the answers for the
    words spaCy asks about while it loads its special cases, so that building a tokenizer compiles none.
    spaCy tests only the answer's truth.
    """

    def __init__(self, alternatives: list[str], twins: list[str], flags: int, known: dict[str, bool]) -> None:
        self.alternatives = alternatives
        self.twins = twins
        self.flags = flags
        self.known = known
        self._any_twin = re.compile("|".join(f"(?:{twin})" for twin in twins), flags | re.DOTALL).match
        self._twin_matchers: list[Callable[[str], Any]] = []
        self._pieces: dict[int, list[str]] = {}
        self._classes: dict[str, Callable[[str], Any]] = {}

    def __call__(self, text: str) -> bool:
        if text in self.known:
            return self.known[text]
        if self._any_twin(text) is None:
            return False
        return any(self._for_text(i, text)(text) is not None for i in self._candidates(text))

    def _candidates(self, text: str) -> list[int]:
        """The alternatives whose twin matches `text`."""
        if not self._twin_matchers:
            self._twin_matchers = [re.compile(twin, self.flags | re.DOTALL).match for twin in self.twins]
        return [i for i, twin in enumerate(self._twin_matchers) if twin(text) is not None]

    def _for_text(self, index: int, text: str) -> Callable[[str], Any]:
        """Alternative number `index`, exact on `text`: each long class becomes the set of `text`'s characters
        it holds (tested with the class itself and the pattern's flags), matched case-sensitively, since a
        match only ever tests characters of `text`."""
        chars = sorted(set(text))
        if index not in self._pieces:
            self._pieces[index] = list(_pieces(self.alternatives[index]))
        pieces = []
        for piece in self._pieces[index]:
            if _is_wide_class(piece):
                held = "".join(re.escape(char) for char in chars if self._class(piece)(char) is not None)
                piece = f"(?-i:[{held}])" if held else r"[^\s\S]"
            pieces.append(piece)
        return re.compile("".join(pieces), self.flags).match

    def _class(self, piece: str) -> Callable[[str], Any]:
        """A long character class alone, compiled once (the French alternatives share three)."""
        if piece not in self._classes:
            self._classes[piece] = re.compile(piece, self.flags).fullmatch
        return self._classes[piece]


def _pieces(pattern: str) -> Iterator[str]:
    """A regex cut into escapes, whole character classes, and single characters."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            end = i + 2
        elif pattern[i] == "[":
            end = i + 1
            end += pattern.startswith("^", end)
            end += pattern.startswith("]", end)  # a "]" first in a class is a member
            while pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            end += 1
        else:
            end = i + 1
        yield pattern[i:end]
        i = end


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex, leading global flags left out: "a|b(c|d)" -> ["a", "b(c|d)"]."""
    pattern = re.sub(r"^\(\?[aiLmsux]+\)", "", pattern)
    alternatives, current, depth = [], [], 0
    for piece in _pieces(pattern):
        if piece == "|" and depth == 0:
            alternatives.append("".join(current))
            current = []
            continue
        depth += (piece == "(") - (piece == ")")
        current.append(piece)
    return [*alternatives, "".join(current)]


def widen(pattern: str) -> str:
    """The pattern with each long, non-negated character class widened to "." (with DOTALL, any character)."""
    return "".join("." if _is_wide_class(piece) else piece for piece in _pieces(pattern))


def _is_wide_class(piece: str) -> bool:
    return len(piece) > WIDE_CLASS_CHARS and piece.startswith("[") and not piece.startswith("[^")


def _build(lang: str) -> dict[str, Any]:
    """What `tokenizer(lang)` needs, from spacy.blank(lang): slow (seconds for French), once per install."""
    import spacy

    built = spacy.blank(lang).tokenizer
    # Each is a bound method of a compiled re.Pattern, as spaCy's own Tokenizer.to_bytes assumes.
    entry: dict[str, Any] = {name: _pattern(getattr(built, name)) for name in PATTERNS}
    entry.update(rules=built.rules, faster_heuristics=built.faster_heuristics, token_match=None)
    if built.token_match is not None:
        full = built.token_match
        known: dict[str, bool] = {}

        def asked(text: str) -> bool:
            known[text] = full(text) is not None
            return known[text]

        _construct(lang, entry, asked)  # records what loading the special cases asks
        alternatives = split_alternatives(full.__self__.pattern)
        entry["token_match"] = (alternatives, [widen(a) for a in alternatives], full.__self__.flags, known)
    return entry


def _pattern(method: Callable[..., Any] | None) -> tuple[str, int] | None:
    return None if method is None else (method.__self__.pattern, method.__self__.flags)


def _construct(lang: str, entry: dict[str, Any], token_match: Callable[[str], Any] | None) -> Tokenizer:
    """A spaCy Tokenizer from a cache entry's rules and patterns.

    Its vocabulary computes one attribute of each new word, the norm, with spaCy's own function: the
    lemmatizer reads nothing else, and the twenty attributes spaCy computes by default (shape, flags, affixes)
    were a third of the cost of tokenising an unseen word."""
    from spacy.attrs import NORM
    from spacy.language import BaseDefaults
    from spacy.tokenizer import Tokenizer
    from spacy.vocab import Vocab, create_vocab

    regexes = {
        name: getattr(re.compile(*entry[name]), method) if entry[name] else None
        for name, method in PATTERNS.items()
    }
    norm = create_vocab(lang, BaseDefaults).lex_attr_getters[NORM]
    return Tokenizer(
        Vocab(lex_attr_getters={NORM: norm}),
        rules=entry["rules"],
        token_match=token_match,
        faster_heuristics=entry["faster_heuristics"],
        **regexes,
    )


@lru_cache(maxsize=2)
def tokenizer(lang: str) -> Tokenizer:
    """spaCy's tokenizer for `lang`, the one `spacy.blank(lang)` has, from the disk cache."""
    import spacy

    entry = load_or_build(f"tokenizer-{lang}", lambda: _build(lang), (spacy.__version__,), Path(__file__))
    return _construct(lang, entry, LazyTokenMatch(*entry["token_match"]) if entry["token_match"] else None)
