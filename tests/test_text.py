"""Text pipeline: normalize() on noisy French/English posts, lemmatize() against spaCy's own lemmatizer."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.text import (
    MAX_CHARS,
    MAX_NORMALIZED_CHARS,
    RETWEET_TOKEN,
    URL_TOKEN,
    USER_TOKEN,
    _lemmatizer,
    lemmatize,
    normalize,
)
from tests.realdata import FREE_POSTS, SPOTIFY_POSTS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
# Real posts per language checked against spaCy's lemmatizer component: enough to meet most token shapes.
REAL_SAMPLE = 200
# A 1 MB post must be handled in well under this (it is cut to MAX_CHARS first); generous for a busy CI box.
HUGE_POST_SECONDS = 2.0
# Pieces that hit every normalize() rule, for the idempotence property (random text alone rarely does).
NOISY_PIECES = [
    *"abcdefghijklmnnnnnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèàçùôœ'’ .,!?:;#@_-/…»\"()0123456789\n\t",
    *["😡", "🏻", "\ufe0f", "\u200d", "❤", "👍", "http://x.co/a ", "www.", "rt :", "RT @a:", "nn", "n"],
    *["#TwitterDown", "instagramdown", "bonjour", "merci", "ok", "vous", "je", "ooo"],
]


@lru_cache(maxsize=2)
def spacy_pipeline(lang: str) -> spacy.language.Language:
    """The reference: spaCy's own blank pipeline with its lookup lemmatizer on spacy-lookups-data's table."""
    nlp = spacy.blank(lang)
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize()
    return nlp


def lookup_table(lang: str) -> spacy.lookups.Table:
    return spacy_pipeline(lang).get_pipe("lemmatizer").lookups.get_table("lemma_lookup")


def tokens(text: str) -> list[str]:
    return text.split()


# --- normalize ---------------------------------------------------------------------------------------


def test_hashtags_are_split_into_words() -> None:
    assert tokens(normalize("#TwitterDown again")) == ["twitter", "down", "again"]
    assert tokens(normalize("#ATTDown #Twitter_Down")) == ["att", "down", "twitter", "down"]
    assert tokens(normalize("#instagramdown #pannefree")) == ["instagram", "down", "panne", "free"]
    # all-lower-case hashtags without a known service stay whole; "iPhone" is no camel-case boundary
    assert tokens(normalize("#freedom #panneinternet #iPhone")) == ["freedom", "panneinternet", "iphone"]


def test_urls_and_handles_become_markers() -> None:
    text = "@SpotifyCares see https://t.co/DZAhE5hw4M and www.example.com/x, mail bob@example.com"
    expected = [USER_TOKEN, "see", URL_TOKEN, "and", URL_TOKEN, "mail", "bob@example.com"]
    assert tokens(normalize(text)) == expected


def test_emoji_are_tokens_with_modifiers_dropped_and_runs_squeezed() -> None:
    assert normalize("down😡😡😡again") == "down 😡 again"
    assert normalize("ok👍🏽👍🏽") == "ok 👍"
    assert normalize("love it ❤️") == "love it ❤"


def test_repeated_letters_and_punctuation_are_squeezed() -> None:
    assert normalize("goooood cooool") == "good cool"  # two letters make the word
    assert normalize("pleeeease merciiiii ouiiii") == "please merci oui"  # only one letter does
    assert normalize("plzzzz") == "plzz"  # neither is a word: two letters
    assert normalize("nooooon!!!!") == "noon!"  # English "noon": normalize() does not know the language
    assert normalize("why???? ...") == "why? ."


def test_entities_are_unescaped() -> None:
    assert normalize("tom &amp; jerry &gt; all &lt;3") == "tom & jerry > all <3"


def test_retweet_prefix() -> None:
    assert normalize("rt : la fibre est coupée") == f"{RETWEET_TOKEN} la fibre est coupée"
    assert normalize("RT @bob: Twitter is down") == f"{RETWEET_TOKEN} twitter is down"
    assert normalize("the rt : in the middle stays") == "the rt : in the middle stays"


def test_lower_cases_and_keeps_accents_and_apostrophes() -> None:
    assert normalize("L’Appli Plante Encore") == "l'appli plante encore"
    assert normalize("  Débit\n\ntrès   instable ") == "débit très instable"


@pytest.mark.parametrize(
    ("exported", "expected"),
    [
        ("bonjour,nnla box ne marche plus.nnmerci", "bonjour, la box ne marche plus. merci"),
        ("je peux même pas.nj'ai la fibre", "je peux même pas. j'ai la fibre"),
        ("nnvous n'avez pas encore envoyé de dm ?", "vous n'avez pas encore envoyé de dm ?"),
        ("disponible avec les freebox compatibles !n", "disponible avec les freebox compatibles !"),
        ("puisque j'avais résilién", "puisque j'avais résilién"),  # no export mark: trailing "n" kept
        ("pas de réseau.nje suis résilién", "pas de réseau. je suis résilié"),  # marked: trailing "n" cut
        ("c'est pareil.nvousnmais rien", "c'est pareil. vous mais rien"),  # marked: single "n" split
        ("bonjournnmerci", "bonjour merci"),  # "nn" between two known words: safe anywhere
        ("riennune.nrien", "rien une. rien"),  # the "n" ending "rien" stays with it
        ("oknnmais", "oknnmais"),  # unmarked and "ok" too short to trust
        ("vousnmais", "vousnmais"),  # unmarked single "n": ambiguous, left alone
        ("connexion annulée, bonne année", "connexion annulée, bonne année"),  # real words with "nn"
        ("i uninstalled the app. nothing", "i uninstalled the app. nothing"),  # English untouched
    ],
)
def test_free_export_line_breaks(exported: str, expected: str) -> None:
    assert normalize(exported) == expected


def test_empty_and_blank() -> None:
    assert normalize("") == ""
    assert normalize(" \n\t ") == ""


def test_huge_post_is_cut() -> None:
    huge = "la fibre est en panne #FreeDown https://t.co/x 😡 " * 22_000  # ~1 MB
    start = time.perf_counter()
    out = normalize(huge)
    assert time.perf_counter() - start < HUGE_POST_SECONDS
    assert out.startswith("la fibre est en panne free down url 😡 la fibre")
    assert len(out) <= MAX_CHARS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_normalize_never_raises_and_is_clean(text: str) -> None:
    out = normalize(text)
    assert out == out.lower()
    assert out == " ".join(out.split())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_CHARS // 3).filter(lambda text: "&" not in text))
def test_normalize_is_idempotent_on_any_text(text: str) -> None:
    # Claimed in normalize()'s docstring: up to MAX_CHARS // 3 characters, no HTML entity surviving unescape.
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(NOISY_PIECES), max_size=60).map("".join))
def test_normalize_is_idempotent_on_noisy_posts(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


# --- lemmatize ---------------------------------------------------------------------------------------


def lemmas(text: str, lang: str) -> list[str]:
    return lemmatize([normalize(text)], [lang])[0].split()


def test_french_lemmas_and_elisions() -> None:
    assert lemmas("Les serveurs plantent", "fr") == ["le", "serveur", "planter"]
    assert lemmas("l'appli ne fonctionne plus", "fr") == ["le", "appli", "ne", "fonctionner", "plus"]
    assert lemmas("j'arrive pas à me connecter", "fr") == ["je", "arriver", "pas", "à", "me", "connecter"]
    assert lemmas("J’arrive pas", "fr") == ["je", "arriver", "pas"]  # curly apostrophe


def test_french_without_accents_finds_the_accented_lemma() -> None:
    assert lemmas("probleme de reseau", "fr") == ["problème", "de", "réseau"]


def test_english_lemmas_and_contractions() -> None:
    assert lemmas("The app keeps crashing", "en") == ["the", "app", "keep", "crash"]
    assert lemmas("I can't login, it won't load", "en") == [
        "i",
        "can",
        "not",
        "login",
        "it",
        "will",
        "not",
        "load",
    ]


def test_other_languages_use_the_english_pipeline() -> None:
    assert lemmatize(["crashing"], ["other"]) == ["crash"]
    assert lemmatize(["plantent"], ["other"]) == ["plantent"]
    assert lemmatize(["plantent"], ["fr"]) == ["planter"]


def test_punctuation_is_dropped_but_question_and_exclamation_kept() -> None:
    assert lemmas("down?! (again), really...", "en") == ["down", "?", "!", "again", "really"]


def test_markers_and_emoji_survive_lemmatization() -> None:
    assert lemmas("@Free #TwitterDown 😡 https://t.co/x", "fr") == [
        USER_TOKEN,
        "twitter",
        "down",
        "😡",
        URL_TOKEN,
    ]


def test_empty_inputs() -> None:
    assert lemmatize([], []) == []
    assert lemmatize(["", ""], ["fr", "en"]) == ["", ""]


def test_languages_must_match_texts() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        lemmatize(["a", "b"], ["en"])


def test_huge_input_is_cut_before_spacy() -> None:
    # lemmatize() expects normalize() output; raw text passed by mistake must not hit spaCy's length limit.
    [out] = lemmatize(["x" * 1_200_000], ["en"])
    assert len(out) == MAX_NORMALIZED_CHARS


def _real_posts() -> list[tuple[str, str]]:
    """(normalised text, language) of REAL_SAMPLE posts from each real corpus."""
    posts = []
    for path, lang in ((FREE_POSTS, "fr"), (SPOTIFY_POSTS, "en")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        posts += [(normalize(text), lang) for text in frame["text"].sample(REAL_SAMPLE, random_state=3)]
    return posts


def test_chunk_memo_gives_the_tokens_of_the_whole_post() -> None:
    # lemmatize() tokenises each whitespace chunk once; tokenising whole posts must give the same lemmas.
    posts = _real_posts()
    for lang in ("fr", "en"):
        texts = [text for text, post_lang in posts if post_lang == lang]
        lemmatizer = _lemmatizer(lang)
        whole = [
            " ".join(filter(None, map(lemmatizer.lemma, (t.norm_ for t in doc))))
            for doc in spacy_pipeline(lang).pipe(texts)
        ]
        assert lemmatize(texts, [lang] * len(texts)) == whole


def test_lemmas_are_spacy_lookup_lemmatizer_lemmas() -> None:
    # Wherever the table knows a token, our lemma is what spaCy's own lookup lemmatizer gives it.
    checked = 0
    for text, lang in _real_posts():
        lemmatizer, table = _lemmatizer(lang), lookup_table(lang)
        for token in spacy_pipeline(lang)(text):
            if token.text in table and token.norm_ == token.text:
                assert lemmatizer.lemma(token.norm_) == token.lemma_
                checked += 1
    assert checked > REAL_SAMPLE  # the check really ran over many tokens
