"""spaCy's tokenizer algorithm over its cached rules (miner.tokenizer.ChunkTokenizer) gives spacy.blank's own
tokens and norms: on the labelled corpus and the demo posts, around every special case, on random chunks, and
on words built to hit the French token_match."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from miner import cache, tokenizer
from miner.text import normalize
from tests.realdata import FREE_POSTS, SPOTIFY_POSTS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
# Words shaped like those spaCy's French token_match keeps whole ("anti-spam", "entr'ouvert", "saut-de-ski"):
# a prefix some alternative spells out (or none), a joint, a tail of letters and joints, an ending; about
# one word in ten matches, the others come close.
PREFIXES = ["anti", "auto", "e", "ex", "mise-à", "saut-de", "new", "hip", "est", "après", "entr", "r"]
PREFIXES += ["grand", "ch", "prud", "z", "a", "l", "aujourd", "Xyz", "Pierre", "la chapelle"]
JOINTS = ["-", "–", "‐", "'", "’", ""]
TAIL_CHARS = "abcdeéèàçzßΩ'-’1ÉſKİıẞ"  # with case pairs that fold in odd ways (ſ, Kelvin K, İ)
ENDINGS = ["", ",", ".", "!", "'", "-"]
french_words = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(PREFIXES),
        st.sampled_from(JOINTS),
        st.text(alphabet=TAIL_CHARS, max_size=8),
        st.sampled_from(ENDINGS),
    ),
)


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tokenizer.ChunkTokenizer]]:
    """Chunk tokenizers built into an empty cache, then loaded back from it, as a later process gets them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
        tokenizer._entry.cache_clear()
        for lang in ("fr", "en"):
            tokenizer._entry(lang)
        tokenizer._entry.cache_clear()
        yield {lang: tokenizer.ChunkTokenizer(tokenizer._entry(lang)) for lang in ("fr", "en")}
    tokenizer._entry.cache_clear()


@pytest.fixture(scope="module")
def reference() -> dict[str, spacy.tokenizer.Tokenizer]:
    return {lang: spacy.blank(lang).tokenizer for lang in ("fr", "en")}


def spacy_tokens(reference: spacy.tokenizer.Tokenizer, chunk: str) -> list[tuple[str, str]]:
    return [(token.text, token.norm_) for token in reference(chunk)]


def corpus_texts() -> list[str]:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return texts + [normalize(text) for text in texts]


def demo_texts() -> list[str]:
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False) for path in (FREE_POSTS, SPOTIFY_POSTS)]
    texts = [text for frame in frames for text in frame["text"]]
    return texts + [normalize(text) for text in texts]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_chunk_tokens_are_spacys_on_real_posts(chunked, reference, lang: str) -> None:
    chunks = sorted({chunk for text in corpus_texts() + demo_texts() for chunk in text.split()})
    assert len(chunks) > 40_000
    assert [chunked[lang].tokens(c) for c in chunks] == [spacy_tokens(reference[lang], c) for c in chunks]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_chunk_tokens_of_special_cases_with_punctuation_around(chunked, reference, lang: str) -> None:
    cases = [case for case in reference[lang].rules if not any(char.isspace() for char in case)]
    chunks = [
        variant for case in cases for variant in (case, f"({case},", f"«{case}!»", f"{case}'s", f"x{case}")
    ]
    assert [chunked[lang].tokens(c) for c in chunks] == [spacy_tokens(reference[lang], c) for c in chunks]


def test_special_cases_found_across_tokens_are_merged_back(chunked) -> None:
    # spaCy cuts "(" and ")" off, then finds the special case "a.m." among the tokens left and merges it.
    assert [text for text, _ in chunked["en"].tokens("(a.m.)")] == ["(", "a.m.", ")"]
    assert chunked["en"].tokens("can't") == [("ca", "can"), ("n't", "not")]


@settings(max_examples=500, deadline=None)
@given(french_words)
def test_lazy_token_match_answers_as_the_whole_regex(chunked, reference, word: str) -> None:
    assert chunked["fr"].token_match(word) == (reference["fr"].token_match(word) is not None)


def test_compound_words_are_kept_whole(chunked) -> None:
    text = "l'anti-spam de new-york, est-ce la mise-à-jour ?"
    tokens = [token for chunk in text.split() for token, _ in chunked["fr"].tokens(chunk)]
    assert tokens == ["l'", "anti-spam", "de", "new-york", ",", "est", "-ce", "la", "mise-à-jour", "?"]


def test_alternatives_split_at_the_top_level_only() -> None:
    pattern = r"(?iu)(?:^a[-|]b$)|(?:^c\|d(e|f)$)|x[)(]"
    assert tokenizer.split_alternatives(pattern) == [r"(?:^a[-|]b$)", r"(?:^c\|d(e|f)$)", "x[)(]"]


def test_widen_keeps_short_and_negated_classes_and_contains_the_original() -> None:
    letters = "[" + "".join(chr(c) for c in range(0x61, 0x61 + 26)) + "àâçéèêëîïôûùüÿñæœ" * 5 + "]"
    negated = "[^" + "x" * 200 + "]"
    pattern = f"^anti[-–]{letters}+{negated}?['’]$"
    widened = tokenizer.widen(pattern)
    assert widened == f"^anti[-–].+{negated}?['’]$"
    for word in ("anti-spam'", "anti–éco’", "anti-x'", "pro-spam'", "anti-'"):
        if re.match(pattern, word):
            assert re.match(widened, word, re.DOTALL)


# --- random chunks ------------------------------------------------------------------------------------------

# Pieces random chunks are made of: letters, digits, the punctuation spaCy's affix rules cut, apostrophes and
# hyphens its infixes and token_match look at, a URL, an emoji.
CHUNK_PIECES = [
    *"abzAéàçÉ0'’-.,!?:;()[]\"«»#@&/$€%…*_+=~<>",
    "😡",
    "http://t.co/x",
    "www.",
    "n't",
    "'s",
    "l'",
]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), lang=st.sampled_from(["fr", "en"]))
def test_any_chunk_tokens_are_spacys(chunked, reference, data: st.DataObject, lang: str) -> None:
    specials = sorted(case for case in reference[lang].rules if not any(c.isspace() for c in case))
    pieces = st.sampled_from(CHUNK_PIECES) | st.sampled_from(specials) | french_words
    chunk = "".join(data.draw(st.lists(pieces, min_size=1, max_size=5)))
    chunk = "".join(chunk.split()) or "x"  # a chunk has no whitespace
    assert chunked[lang].tokens(chunk) == spacy_tokens(reference[lang], chunk)
