"""The services file: the shipped one, validation messages that show the bad value, per-source queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from miner.errors import BadInput
from miner.privacy import author_key
from miner.services import (
    X_QUERY_LIMIT,
    Query,
    build_queries,
    load_services,
    quote,
    x_queries,
)

SHIPPED = [
    "x", "instagram", "facebook", "whatsapp", "youtube", "discord",
    "spotify", "netflix", "free", "orange", "sfr", "bouygues",
]  # fmt: skip

VALID = """
[outage_words]
fr = ["panne", "marche pas"]
en = ["down", "can't"]

[[services]]
name = "free"
display = "Free"
aliases = ["freebox"]
official_accounts = ["Freebox", "free"]
hashtags = ["freebox"]
terms.fr = ["freebox", "free mobile", "@free"]
terms.en = ["freebox"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "services.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_watches_every_required_service() -> None:
    catalog = load_services()
    assert [s.name for s in catalog.services] == SHIPPED
    free = catalog.get("free")
    assert set(free.official_accounts) >= {"Freebox", "free", "Free_1337", "GroupeIliad"}
    assert catalog.get("Bouygues Telecom").display == "Bouygues Telecom"
    assert catalog.get("twitter").name == "x"
    assert all(s.terms["fr"] and s.terms["en"] and s.hashtags for s in catalog.services)


def test_every_shipped_x_query_fits_the_limit() -> None:
    catalog = load_services()
    for service in catalog.services:
        for query in build_queries(catalog, service.name, "x"):
            assert len(query.text) <= X_QUERY_LIMIT
            assert query.text.endswith("-is:retweet (lang:fr OR lang:en)")


def test_the_path_comes_from_the_argument_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID)
    assert [s.name for s in load_services(path).services] == ["free"]
    monkeypatch.setenv("MINER_SERVICES", str(path))
    assert load_services().path == path


def test_official_accounts_match_stored_authors(tmp_path: Path) -> None:
    free = load_services(write(tmp_path, VALID)).get("free")
    assert free.official_keys() == {author_key("Freebox"), author_key("free")}


BROKEN = [  # (text to replace in VALID, replacement, part of the expected message)
    ('name = "free"', 'name = "Free Telecom"', "services[0].name: 'Free Telecom' must be lowercase"),
    ('hashtags = ["freebox"]', 'hashtags = ["#freebox"]', "service 'free': hashtags[0]: '#freebox' must"),
    ('"free mobile"', '"free \\"mobile\\""', "terms.fr[1]: 'free \"mobile\"' must not contain double quotes"),
    ('"Freebox", "free"]', '"Freebox", "free box"]', "official_accounts[1]: 'free box' is not a handle"),
    ('aliases = ["freebox"]', 'aliases = "freebox"', "aliases: must be a list of strings, got 'freebox'"),
    ('display = "Free"', 'dispaly = "Free"', "services[0]: unknown key 'dispaly'"),
    ('terms.fr = ["freebox", "free mobile", "@free"]\nterms.en = ["freebox"]', "", "missing key 'terms'"),
    ('terms.en = ["freebox"]', 'terms.de = ["freebox"]', "terms: unknown key 'de'"),
    ('fr = ["panne", "marche pas"]\nen = ["down", "can\'t"]', "fr = []", "outage_words: needs at least one"),
    ("[[services]]", "[[services]", "not valid TOML"),
    (
        'hashtags = ["freebox"]',
        'hashtags = ["freebox"]\nsensitivity = "loud"',
        "sensitivity: sensitivity must be low",
    ),
    (
        'hashtags = ["freebox"]',
        'hashtags = ["freebox"]\nsensitivity = 0',
        "or false alarms per week in (0, 7], got 0",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_validation_names_the_offending_value(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(BadInput) as failure:
        load_services(path)
    assert str(failure.value).startswith(str(path)) and message in str(failure.value)


@pytest.mark.parametrize(("setting", "rate"), [('"high"', 1.0), ('"Low"', 0.25), ("1.5", 1.5), ("3", 3.0)])
def test_a_service_sets_its_sensitivity_by_name_or_rate(tmp_path: Path, setting: str, rate: float) -> None:
    text = VALID.replace('hashtags = ["freebox"]', f'hashtags = ["freebox"]\nsensitivity = {setting}')
    assert load_services(write(tmp_path, text)).get("free").sensitivity == rate
    assert load_services(write(tmp_path, VALID)).get("free").sensitivity is None


def test_two_services_cannot_share_an_alias(tmp_path: Path) -> None:
    second = VALID.split("[[services]]")[1].replace('name = "free"', 'name = "sfr"')
    with pytest.raises(BadInput, match="service 'sfr': 'freebox' is already used by 'free'"):
        load_services(write(tmp_path, VALID + "[[services]]" + second))


def test_a_missing_file_or_service_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such services file"):
        load_services(tmp_path / "nope.toml")
    with pytest.raises(BadInput, match=r"unknown service 'myspace' in .*: choose one of free"):
        load_services(write(tmp_path, VALID)).get("myspace")


def test_quoting_keeps_operators_and_quotes_phrases() -> None:
    assert [quote(t) for t in ("freebox", "@free", "#panne", "free mobile", "can't", "x.com")] == [
        "freebox", "@free", "#panne", '"free mobile"', '"can\'t"', '"x.com"',
    ]  # fmt: skip


def test_x_query_combines_both_languages_and_excludes_reposts(tmp_path: Path) -> None:
    catalog = load_services(write(tmp_path, VALID))
    assert build_queries(catalog, "freebox", "x") == [
        Query(
            "free",
            '(freebox OR "free mobile" OR @free) (panne OR "marche pas" OR down OR "can\'t") '
            "-is:retweet (lang:fr OR lang:en)",
        )
    ]


def test_long_x_queries_are_split_without_losing_a_word(tmp_path: Path) -> None:
    words = [f"mot{i:02d} en panne" for i in range(60)]
    text = VALID.replace('fr = ["panne", "marche pas"]', f"fr = {words!r}".replace("'", '"'))
    catalog = load_services(write(tmp_path, text))
    queries = x_queries(catalog.get("free"), catalog.outage_words)
    assert len(queries) > 1 and all(len(q) <= X_QUERY_LIMIT for q in queries)
    found = [w for q in queries for w in re.findall(r'"(mot\d\d en panne)"', q)]
    assert found == words  # each word once, in order
    assert all(q.startswith('(freebox OR "free mobile" OR @free) ') for q in queries)


def test_too_many_terms_split_the_terms_too(tmp_path: Path) -> None:
    terms = [f"service numero {i:02d}" for i in range(40)]
    text = VALID.replace(
        'terms.fr = ["freebox", "free mobile", "@free"]', f"terms.fr = {terms!r}".replace("'", '"')
    )
    catalog = load_services(write(tmp_path, text))
    queries = x_queries(catalog.get("free"), catalog.outage_words)
    assert len(queries) > 1 and all(len(q) <= X_QUERY_LIMIT for q in queries)
    assert sorted({t for q in queries for t in re.findall(r'"(service numero \d\d)"', q)}) == terms


def test_bluesky_gets_one_query_per_term_and_word_of_a_language(tmp_path: Path) -> None:
    catalog = load_services(write(tmp_path, VALID))
    queries = build_queries(catalog, "free", "bluesky")
    assert [(q.text, q.lang) for q in queries] == [
        ("freebox panne", "fr"),
        ('freebox "marche pas"', "fr"),
        ('"free mobile" panne', "fr"),
        ('"free mobile" "marche pas"', "fr"),
        ("freebox down", "en"),
        ('freebox "can\'t"', "en"),
    ]  # fmt: skip
    assert not any("@free" in q.text for q in queries)  # an X mention: X only


def test_mastodon_gets_hashtag_timelines_then_search_queries(tmp_path: Path) -> None:
    catalog = load_services(write(tmp_path, VALID))
    queries = build_queries(catalog, "free", "mastodon")
    assert queries[0] == Query("free", "#freebox")
    assert queries[1:] == build_queries(catalog, "free", "bluesky")
