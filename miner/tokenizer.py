"""spaCy's tokenizer for French and English, as its algorithm over its cached rules, without spaCy.

`spacy.blank("fr")` imports spacy.lang.fr, whose tokenizer exceptions compile a 1.4 MB `token_match` regex
(a hundred alternatives such as "^anti-[letters]...$", each spelling out the whole Unicode alphabet as a
character class): ~2.5 s at every start; importing spaCy at all costs ~0.4 s, and its tokenizer builds Doc
and Lexeme objects (~20 µs a word) that the lemmatizer only reads a norm from. Here the tokenizer's rules
(prefix, suffix, infix and URL patterns, special cases, the norms that are not lower case) are taken from
spaCy once and kept in the disk cache (miner.cache); `ChunkTokenizer` runs spaCy's algorithm over them for
each whitespace-free chunk, and `token_match` becomes a `LazyTokenMatch`, which gives the same answers and
compiles only what a word could match. tests/test_tokenizer.py holds the tokens and norms to spaCy's own on
the corpus, the demo posts, every special case and random chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miner.cache import load_or_build, package_about

if TYPE_CHECKING:
    from spacy.tokenizer import Tokenizer

# Character classes longer than this are the alphabet-sized ones; the quick twin of a pattern widens them to
# "." (the short ones, hyphens and apostrophes, are what makes the twin selective, and stay).
WIDE_CLASS_CHARS = 100
# Strings whose token_match answer is remembered before the memo is emptied (~100 bytes each).
ANSWER_MEMO_SIZE = 100_000
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
    expands a class of the whole Unicode alphabet on every compilation). spaCy tests only the answer's
    truth.
    """

    def __init__(self, alternatives: list[str], twins: list[str], flags: int) -> None:
        self.alternatives = alternatives
        self.twins = twins
        self.flags = flags
        self._any_twin = re.compile("|".join(f"(?:{twin})" for twin in twins), flags | re.DOTALL).match
        self._twin_matchers: list[Callable[[str], Any]] = []
        self._pieces: dict[int, list[str]] = {}
        self._classes: dict[str, Callable[[str], Any]] = {}
        self._answers: dict[str, bool] = {}  # the tokenizer asks about the same strings again and again

    def __call__(self, text: str) -> bool:
        answer = self._answers.get(text)
        if answer is None:
            if len(self._answers) >= ANSWER_MEMO_SIZE:
                self._answers.clear()
            answer = self._answers[text] = self._match(text)
        return answer

    def _match(self, text: str) -> bool:
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
    """What `ChunkTokenizer` needs, from spacy.blank(lang)'s tokenizer (seconds for French, once)."""
    import spacy
    from spacy.attrs import NORM, ORTH

    built = spacy.blank(lang).tokenizer
    # Each is a bound method of a compiled re.Pattern, as spaCy's own Tokenizer.to_bytes assumes.
    entry: dict[str, Any] = {name: _pattern(getattr(built, name)) for name in PATTERNS}
    entry["token_match"] = None
    if built.token_match is not None:
        pattern, flags = _pattern(built.token_match)
        alternatives = split_alternatives(pattern)
        entry["token_match"] = (alternatives, [widen(a) for a in alternatives], flags)
    entry["specials"] = {
        string: [(token[ORTH], token.get(NORM)) for token in tokens] for string, tokens in built.rules.items()
    }
    entry["special_patterns"] = _special_patterns(built)
    entry["norms"] = _norm_exceptions(lang)
    return entry


def _special_patterns(built: Tokenizer) -> list[tuple[list[str], str]]:
    """The special cases spaCy also looks for across the tokens of a chunk, as the token texts it looks for
    (Tokenizer.add_special_case: those its affix rules would cut), with the special case each stands for.
    Those holding whitespace are left out: they cannot occur inside a chunk."""
    from spacy.tokenizer import Tokenizer

    bare = Tokenizer(  # the same rules without special cases: how add_special_case tokenises its pattern
        built.vocab,
        prefix_search=built.prefix_search,
        suffix_search=built.suffix_search,
        infix_finditer=built.infix_finditer,
        token_match=built.token_match,
        url_match=built.url_match,
    )
    matched = (
        string
        for string in sorted(built.rules)
        if not any(char.isspace() for char in string)
        and (
            not built.faster_heuristics
            or built.find_prefix(string)
            or built.find_infix(string)
            or built.find_suffix(string)
        )
    )
    return [([token.text for token in bare(string)], string) for string in matched]


def _norm_exceptions(lang: str) -> dict[str, str]:
    """The words whose norm is not their lower case, as the tokenizer's vocabulary has them."""
    from spacy.attrs import NORM
    from spacy.lang.lex_attrs import lower
    from spacy.language import BaseDefaults
    from spacy.vocab import create_vocab

    getter = create_vocab(lang, BaseDefaults).lex_attr_getters[NORM]
    default, lookups = getter.args  # spacy.util.add_lookups: the first table holding a word gives its norm
    if default is not lower:
        raise RuntimeError(f"spaCy {lang} norms are no longer lower case plus tables: update miner.tokenizer")
    return {word: norm for table in reversed(lookups) for word, norm in table.items()}


def _pattern(method: Callable[..., Any] | None) -> tuple[str, int] | None:
    return None if method is None else (method.__self__.pattern, method.__self__.flags)


def _regexes(entry: dict[str, Any]) -> dict[str, Callable[..., Any] | None]:
    """The entry's prefix, suffix, infix and URL patterns, compiled, as the methods the tokenizer calls."""
    return {
        name: getattr(re.compile(*entry[name]), method) if entry[name] else None
        for name, method in PATTERNS.items()
    }


@lru_cache(maxsize=2)
def _entry(lang: str) -> dict[str, Any]:
    """The cache entry of `lang`'s tokenizer, keyed by this module and spaCy's version (read without importing
    spaCy)."""
    sources = (Path(__file__), package_about("spacy"))
    return load_or_build(f"tokenizer-{lang}", lambda: _build(lang), (), sources)


Token = tuple[str, str]
"""A token's text and norm."""


class ChunkTokenizer:
    """spaCy's tokenizer algorithm (Tokenizer._split_affixes, _attach_tokens and _apply_special_cases) for one
    chunk of a text without whitespace, in Python over the patterns and special cases spaCy's tokenizer is
    built from: without importing spaCy (~0.4 s) or building its Doc and Lexeme objects (~20 µs a chunk).
    tests/test_tokenizer.py holds the tokens and norms to spaCy's on the corpus and on random chunks.
    """

    def __init__(self, entry: dict[str, Any]) -> None:
        regexes = _regexes(entry)
        self.prefix = regexes["prefix_search"] or _no_match
        self.suffix = regexes["suffix_search"] or _no_match
        self.infixes = regexes["infix_finditer"]
        self.url_match = regexes["url_match"]
        self.token_match = LazyTokenMatch(*entry["token_match"]) if entry["token_match"] else None
        self.norms: dict[str, str] = entry["norms"]
        self.specials = {
            string: [(orth, self.norm(orth) if norm is None else norm) for orth, norm in tokens]
            for string, tokens in entry["specials"].items()
        }
        self.patterns = {tuple(texts): string for texts, string in entry["special_patterns"]}
        self.pattern_sizes = sorted({len(texts) for texts in self.patterns})
        # A pattern can only match where its special case occurs in the chunk: most chunks hold none.
        spelled = "|".join(re.escape(string) for string in sorted(set(self.patterns.values())))
        self.may_match = re.compile(spelled).search if spelled else _no_match

    def norm(self, text: str) -> str:
        """A word's norm, as spaCy's tokenizer vocabulary gives it."""
        found = self.norms.get(text)
        return text.lower() if found is None else found

    def tokens(self, chunk: str) -> list[Token]:
        """The tokens (text, norm) spaCy gives a chunk."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        core = self._split_affixes(chunk, prefixes, suffixes) if chunk not in self.specials else chunk
        found = [(text, self.norm(text)) for text in prefixes]
        if core:
            found += self._attach(core)
        found += [(text, self.norm(text)) for text in reversed(suffixes)]
        # A single token is the chunk or its own special case: no other special case can apply to it.
        return self._apply_special_cases(found) if len(found) > 1 and self.may_match(chunk) else found

    def _split_affixes(self, string: str, prefixes: list[str], suffixes: list[str]) -> str:
        """Peel prefixes and suffixes off, as spaCy does, until none is left or a special case remains."""
        last_size = 0
        while string and len(string) != last_size:
            if (self.token_match is not None and self.token_match(string)) or string in self.specials:
                break
            last_size = len(string)
            pre_len = _length(self.prefix(string))
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre in self.specials:
                    prefixes.append(prefix)
                    return minus_pre
            suf_len = _length(self.suffix(string[pre_len:]))
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf in self.specials:
                    suffixes.append(suffix)
                    return minus_suf
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        return string

    def _attach(self, string: str) -> list[Token]:
        """The tokens of what is left between the affixes: a special case, a whole token, or infix splits."""
        special = self.specials.get(string)
        if special is not None:
            return special
        whole = (self.token_match is not None and self.token_match(string)) or (
            self.url_match is not None and self.url_match(string)
        )
        matches = [] if whole or self.infixes is None else list(self.infixes(string))
        if not matches:
            return [(string, self.norm(string))]
        pieces, start = [], 0
        for match in matches:
            infix_start, infix_end = match.start(), match.end()
            if infix_start == 0:  # an infix at the very start splits nothing
                continue
            if infix_start != start:
                pieces.append(string[start:infix_start])
            if infix_start != infix_end:
                pieces.append(string[infix_start:infix_end])
            start = infix_end
        if string[start:]:
            pieces.append(string[start:])
        return [(text, self.norm(text)) for text in pieces]

    def _apply_special_cases(self, tokens: list[Token]) -> list[Token]:
        """Runs of tokens that spell a special case's pattern become its tokens: the longest runs first, then
        the leftmost, and a run is kept only if its first and last tokens are in no run met before."""
        texts = [text for text, _ in tokens]
        runs = [
            (start, start + size)
            for size in self.pattern_sizes
            for start in range(len(texts) - size + 1)
            if tuple(texts[start : start + size]) in self.patterns
        ]
        seen: set[int] = set()
        kept = []
        for start, end in sorted(runs, key=lambda run: (run[0] - run[1], run[0])):
            if start not in seen and end - 1 not in seen:
                kept.append((start, end))
            seen.update(range(start, end))
        out, done = [], 0
        for start, end in sorted(kept):
            out += tokens[done:start] + self.specials["".join(texts[start:end])]
            done = end
        return out + tokens[done:]


def _length(match: re.Match[str] | None) -> int:
    """The length of an affix match (0 for none), as Tokenizer.find_prefix and find_suffix give it."""
    return 0 if match is None else match.end() - match.start()


def _no_match(text: str) -> None:
    """The search of a pattern the tokenizer does not have."""


@lru_cache(maxsize=2)
def chunk_tokenizer(lang: str) -> ChunkTokenizer:
    """The ChunkTokenizer of `lang`, from the disk cache."""
    return ChunkTokenizer(_entry(lang))
