"""The local matcher: the services' (term, outage word) pairs of a language, as whole words, ignoring case,
accents and the apostrophe's shape; checked on cases and against a plain token-by-token reading."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miner.match import Matcher, fold
from miner.services import Catalog, load_services

SERVICES = """
[outage_words]
fr = ["panne", "marche pas", "pas de réseau", "plus d'internet"]
en = ["down", "can't", "not working"]

[[services]]
name = "free"
terms.fr = ["freebox", "free mobile", "@free"]
terms.en = ["freebox"]

[[services]]
name = "orange"
terms.fr = ["orange", "livebox"]
terms.en = ["orange france"]

[[services]]
name = "youtube"
terms.fr = ["youtube"]
terms.en = ["youtube"]
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    path = tmp_path_factory.mktemp("services") / "services.toml"
    path.write_text(SERVICES, encoding="utf-8")
    return load_services(path)


@pytest.fixture(scope="module")
def matcher(catalog: Catalog) -> Matcher:
    return Matcher(catalog)


@pytest.mark.parametrize(
    ("text", "langs", "expected"),
    [
        ("Ma Freebox est en PANNE depuis ce matin", ["fr"], ("free", "fr")),
        ("la freebox ne marche   pas\net toi ?", ["fr"], ("free", "fr")),  # blanks of any kind in phrases
        ("PAS DE RESEAU chez Orange", ["fr"], ("orange", "fr")),  # accents and case ignored
        ("plus d’internet avec ma livebox", ["fr"], ("orange", "fr")),  # typographic apostrophe
        ("panne d'Orange à Lyon", ["fr"], ("orange", "fr")),  # a term right after an elision
        ("youtube can’t load anything", ["en"], ("youtube", "en")),
        ("#YouTube #down", ["en"], ("youtube", "en")),  # hashtags are words
        ("freebox down", ["fr"], None),  # an English word does not make a French report
        ("freebox en panne", ["en"], None),
        ("freebox en panne", ["en", "fr"], ("free", "fr")),  # each language the post names is tried
        ("youtuber down", ["en"], None),  # whole words only
        ("youtube shutdown", ["en"], None),
        ("les pannes de freebox", ["fr"], None),  # no stemming: the search APIs' exact words
        ("@free en panne", ["fr"], None),  # '@' terms are X mentions: not matched as text
        ("orange down", ["en"], None),  # "orange" is a French term only; English says "orange france"
        ("orange france is down", ["en"], ("orange", "en")),
        ("livebox et youtube en panne", ["fr"], ("orange", "fr")),  # several: the first in the file
        ("youtube panne", ["de"], None),  # languages outside fr/en are ignored
        ("", ["fr"], None),
    ],
)
def test_cases(matcher: Matcher, text: str, langs: list[str], expected: tuple[str, str] | None) -> None:
    assert matcher.match(text, langs) == expected


def test_it_can_listen_to_some_services_only(catalog: Catalog) -> None:
    only = Matcher(catalog, ["YouTube"])
    assert only.services == ("youtube",)
    assert only.match("freebox en panne", ["fr"]) is None
    assert only.match("youtube en panne", ["fr"]) == ("youtube", "fr")


def test_fold() -> None:
    assert fold("ÉCRAN Noël ŒUF l’appli") == "ecran noel œuf l'appli"
    assert fold("plain ascii") == "plain ascii"
    assert fold("e\u0301cran") == "ecran"  # decomposed accents are composed first


# --- against a plain reading -----------------------------------------------------------------------

PIECES = {
    "fr": ["freebox", "free mobile", "orange", "livebox", "youtube", "panne", "marche pas", "pas de réseau"],
    "en": ["freebox", "orange france", "youtube", "down", "can't", "not working"],
}
NOISE = ["la", "box", "ce", "matin", "encore", "again", "today", "free", "mobile", "france", "pas", "not"]
SEPARATORS = [" ", "  ", ", ", "\n", "! ", " : "]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def _contains(text: str, phrase: str) -> bool:
    """Whether the phrase's words stand in a row among the text's words (the plain reading)."""
    words, wanted = _tokens(text), _tokens(phrase)
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


def _expected(catalog: Catalog, text: str, lang: str) -> str | None:
    if not any(_contains(text, w) for w in catalog.outage_words[lang]):
        return None
    for service in catalog.services:
        if any(_contains(text, t) for t in service.terms[lang] if not t.startswith("@")):
            return service.name
    return None


@st.composite
def posts(draw: st.DrawFn) -> tuple[str, str]:
    """Service terms, outage words and other words, in any case, joined by blanks and punctuation."""
    lang = draw(st.sampled_from(["fr", "en"]))
    parts = draw(st.lists(st.sampled_from(PIECES[lang] + NOISE), min_size=1, max_size=8))
    cased = [p.upper() if draw(st.booleans()) else p for p in parts]
    return "".join(draw(st.sampled_from(SEPARATORS)) + p for p in cased), lang


@settings(max_examples=300, deadline=None)
@given(post=posts())
def test_agrees_with_reading_word_by_word(catalog: Catalog, matcher: Matcher, post: tuple[str, str]) -> None:
    text, lang = post
    found = matcher.match(text, [lang])
    assert (found[0] if found else None) == _expected(catalog, text, lang)
