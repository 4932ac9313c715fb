"""spaCy's tokenizers rebuilt from the disk cache give spacy.blank's tokens: on the whole labelled corpus, its
special cases, and words built to hit the French token_match."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from miner import cache, tokenizer
from miner.text import normalize

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
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, spacy.tokenizer.Tokenizer]]:
    """Tokenizers built into an empty cache, then loaded back from it, as a later process gets them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
        tokenizer.tokenizer.cache_clear()
        for lang in ("fr", "en"):
            tokenizer.tokenizer(lang)
        tokenizer.tokenizer.cache_clear()
        yield {lang: tokenizer.tokenizer(lang) for lang in ("fr", "en")}
    tokenizer.tokenizer.cache_clear()


@pytest.fixture(scope="module")
def reference() -> dict[str, spacy.tokenizer.Tokenizer]:
    return {lang: spacy.blank(lang).tokenizer for lang in ("fr", "en")}


def token_view(docs: Iterator[spacy.tokens.Doc]) -> list[list[tuple[str, str, str]]]:
    return [[(t.text, t.norm_, t.whitespace_) for t in doc] for doc in docs]


def corpus_texts() -> list[str]:
    texts = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    return texts + [normalize(text) for text in texts]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_same_tokens_as_spacy_blank_on_the_corpus(loaded, reference, lang: str) -> None:
    texts = corpus_texts()
    assert len(texts) > 20_000
    assert token_view(loaded[lang].pipe(texts)) == token_view(reference[lang].pipe(texts))


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_same_tokens_on_special_cases_with_punctuation_around(loaded, reference, lang: str) -> None:
    texts = [variant for case in reference[lang].rules for variant in (case, f"({case},", f"«{case}!»")]
    assert token_view(loaded[lang].pipe(texts)) == token_view(reference[lang].pipe(texts))


@settings(max_examples=500, deadline=None)
@given(french_words)
def test_lazy_token_match_answers_as_the_whole_regex(loaded, reference, word: str) -> None:
    assert loaded["fr"].token_match(word) == (reference["fr"].token_match(word) is not None)


def test_compound_words_are_kept_whole(loaded) -> None:
    tokens = [t.text for t in loaded["fr"]("l'anti-spam de new-york, est-ce la mise-à-jour ?")]
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
