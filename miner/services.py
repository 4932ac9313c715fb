"""The services we watch (`data/services.toml`) and the search queries each source runs for them.

The file is hand-edited, so every check names the file, the service and the offending value. Queries
combine how users name a service with outage words in French and English: X packs them with OR into
as few queries as its length limit allows; Bluesky and Mastodon search have no OR, so they get one
query per (term, word) pair of a language.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from miner.errors import BadInput
from miner.privacy import author_key
from miner.sensitivity import parse_sensitivity

DEFAULT_SERVICES_PATH = Path(__file__).resolve().parents[1] / "data" / "services.toml"
SERVICES_ENV = "MINER_SERVICES"
LANGS = ("fr", "en")
SOURCES = ("x", "bluesky", "mastodon")
"""Sources searched per service, query by query."""
JETSTREAM = "jetstream"
"""Bluesky's live stream: every post, matched locally against all services (`miner.collect.jetstream`)."""
# X API v2 recent search rejects queries longer than 512 characters (1,024 is full-archive only).
X_QUERY_LIMIT = 512
# Reposts would count one complaint many times; lang:fr OR lang:en keeps the two languages we classify.
X_FILTERS = "-is:retweet (lang:fr OR lang:en)"

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
HANDLE_RE = re.compile(r"@?[A-Za-z0-9_.-]{1,64}")  # X handles, or Bluesky/Mastodon ones with dots
HASHTAG_RE = re.compile(r"\w+")
BARE_TERM_RE = re.compile(r"[@#]?\w+")  # a word, @mention or #hashtag needs no quotes in a query
# Long enough for any real phrase; a longer "term" is a paste error that would eat the query budget.
MAX_TERM_CHARS = 100

SERVICE_KEYS = {"name", "display", "aliases", "official_accounts", "hashtags", "terms", "sensitivity"}
REQUIRED_SERVICE_KEYS = {"name", "terms"}


@dataclass(frozen=True, slots=True)
class Service:
    """One watched service, as configured."""

    name: str
    display: str
    aliases: tuple[str, ...]
    official_accounts: tuple[str, ...]
    hashtags: tuple[str, ...]
    terms: dict[str, tuple[str, ...]]
    # The detector's sensitivity for this service, as false alarms per week (None: the default).
    sensitivity: float | None = None

    def official_keys(self) -> set[str]:
        """Stored author keys of the official accounts, so counts can leave out their support replies."""
        return {author_key(handle) for handle in self.official_accounts}


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every service in a services file, plus the outage words shared by all of them."""

    path: Path
    services: tuple[Service, ...]
    outage_words: dict[str, tuple[str, ...]]

    def get(self, name: str) -> Service:
        """The service called `name` or one of its aliases (case-insensitive)."""
        wanted = name.strip().casefold()
        for service in self.services:
            if wanted == service.name or wanted in (a.casefold() for a in service.aliases):
                return service
        known = ", ".join(s.name for s in self.services)
        raise BadInput(f"unknown service {name!r} in {self.path}: choose one of {known}")


@dataclass(frozen=True, slots=True)
class Query:
    """One search a collector runs for a service; `key` names its checkpoint."""

    service: str
    text: str
    lang: str = ""  # Bluesky and Mastodon search filter by one language per query

    @property
    def key(self) -> str:
        return f"{self.text} lang:{self.lang}" if self.lang else self.text


def services_path(path: Path | str | None = None) -> Path:
    """The services file: the argument, else `MINER_SERVICES`, else the shipped `data/services.toml`."""
    return Path(path or os.environ.get(SERVICES_ENV) or DEFAULT_SERVICES_PATH)


def load_services(path: Path | str | None = None) -> Catalog:
    """Read and validate a services file; raises BadInput naming the offending value."""
    path = services_path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such services file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None
    _check_keys(doc, {"outage_words", "services"}, {"outage_words", "services"}, str(path))
    words = _by_lang(doc["outage_words"], f"{path}: outage_words", _check_term)
    entries = doc["services"]
    if not isinstance(entries, list) or not entries:
        _fail(f"{path}: services", f"must be a non-empty [[services]] list, got {entries!r}")
    services = tuple(_service(entry, path, i) for i, entry in enumerate(entries))
    _check_unique(services, path)
    return Catalog(path, services, words)


def _service(entry: Any, path: Path, index: int) -> Service:
    _check_keys(entry, SERVICE_KEYS, REQUIRED_SERVICE_KEYS, f"{path}: services[{index}]")
    name = entry["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        _fail(f"{path}: services[{index}].name", f"{name!r} must be lowercase letters, digits, - or _")
    where = f"{path}: service {name!r}"
    display = entry.get("display", name)
    if not isinstance(display, str) or not display.strip():
        _fail(f"{where}: display", f"must be a non-empty string, got {display!r}")
    return Service(
        name=name,
        display=display.strip(),
        aliases=_strings(entry.get("aliases", []), f"{where}: aliases", _check_term),
        official_accounts=_strings(
            entry.get("official_accounts", []), f"{where}: official_accounts", _check_handle
        ),
        hashtags=_strings(entry.get("hashtags", []), f"{where}: hashtags", _check_hashtag),
        terms=_by_lang(entry["terms"], f"{where}: terms", _check_term),
        sensitivity=_sensitivity(entry.get("sensitivity"), f"{where}: sensitivity"),
    )


def _sensitivity(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_sensitivity(value)
    except BadInput as exc:
        _fail(where, str(exc))


def _fail(where: str, message: str) -> NoReturn:
    raise BadInput(f"{where}: {message}")


def _check_keys(table: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(table, dict):
        _fail(where, f"must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        _fail(where, f"unknown key {unknown[0]!r} (expected {', '.join(sorted(allowed))})")
    missing = sorted(required - set(table))
    if missing:
        _fail(where, f"missing key {missing[0]!r}")


def _check_term(value: str) -> str | None:
    if '"' in value:
        return "must not contain double quotes (terms are quoted in queries)"
    if len(value) > MAX_TERM_CHARS:
        return f"is longer than {MAX_TERM_CHARS} characters"
    return None


def _check_handle(value: str) -> str | None:
    return None if HANDLE_RE.fullmatch(value) else "is not a handle (letters, digits, _ . -)"


def _check_hashtag(value: str) -> str | None:
    return None if HASHTAG_RE.fullmatch(value) else "must be letters, digits or _ only, without '#'"


def _strings(value: Any, where: str, check: Callable[[str], str | None]) -> tuple[str, ...]:
    if not isinstance(value, list):
        _fail(where, f"must be a list of strings, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            _fail(f"{where}[{i}]", f"must be a non-empty string, got {item!r}")
        problem = check(item)
        if problem:
            _fail(f"{where}[{i}]", f"{item!r} {problem}")
    return tuple(item.strip() for item in value)


def _by_lang(value: Any, where: str, check: Callable[[str], str | None]) -> dict[str, tuple[str, ...]]:
    _check_keys(value, set(LANGS), set(), where)
    found = {lang: _strings(value.get(lang, []), f"{where}.{lang}", check) for lang in LANGS}
    if not any(found.values()):
        _fail(where, f"needs at least one entry in {' or '.join(LANGS)}, got {value!r}")
    return found


def _check_unique(services: Iterable[Service], path: Path) -> None:
    """Names and aliases must point at one service each, else `--service` would be ambiguous."""
    owner: dict[str, str] = {}
    for service in services:
        for label in {service.name, *(alias.casefold() for alias in service.aliases)}:
            if label in owner:
                _fail(f"{path}: service {service.name!r}", f"{label!r} is already used by {owner[label]!r}")
            owner[label] = service.name


# --- queries ---------------------------------------------------------------------------------------


def build_queries(catalog: Catalog, service: str, source: str) -> list[Query]:
    """Every query `source` runs for `service` (Mastodon: hashtag timelines, then search queries)."""
    svc = catalog.get(service)
    if source == "x":
        return [Query(svc.name, text) for text in x_queries(svc, catalog.outage_words)]
    if source == "bluesky":
        return phrase_queries(svc, catalog.outage_words)
    if source == "mastodon":
        return [Query(svc.name, f"#{tag}") for tag in svc.hashtags] + phrase_queries(
            svc, catalog.outage_words
        )
    raise BadInput(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")


def quote(term: str) -> str:
    """A term as a search query token: phrases and punctuation in double quotes."""
    return term if BARE_TERM_RE.fullmatch(term) else f'"{term}"'


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.casefold(), item)
    return list(seen.values())


def _or_group(tokens: list[str]) -> str:
    return tokens[0] if len(tokens) == 1 else f"({' OR '.join(tokens)})"


def _x_query(terms: list[str], words: list[str]) -> str:
    return f"{_or_group(terms)} {_or_group(words)} {X_FILTERS}"


def x_queries(service: Service, outage_words: dict[str, tuple[str, ...]]) -> list[str]:
    """(terms) (words) -is:retweet (lang:fr OR lang:en), split into as few queries as the limit allows."""
    terms = [quote(t) for t in _unique(t for lang in LANGS for t in service.terms[lang])]
    words = [quote(w) for w in _unique(w for lang in LANGS for w in outage_words[lang])]
    longest_word = max(words, key=len)
    queries = []
    for term_group in _pack(terms, lambda group: len(_x_query(group, [longest_word])) <= X_QUERY_LIMIT):
        for word_group in _pack(
            words, lambda group, tg=term_group: len(_x_query(tg, group)) <= X_QUERY_LIMIT
        ):
            queries.append(_x_query(term_group, word_group))
    return queries


def _pack(tokens: list[str], fits: Callable[[list[str]], bool]) -> list[list[str]]:
    """Greedy grouping of tokens, in order, into groups that each pass `fits`."""
    groups: list[list[str]] = [[]]
    for token in tokens:
        if fits([*groups[-1], token]):
            groups[-1].append(token)
        elif groups[-1] and fits([token]):
            groups.append([token])
        else:
            raise BadInput(f"search term {token} cannot fit in a {X_QUERY_LIMIT}-character X query")
    return groups


def text_terms(service: Service, lang: str) -> list[str]:
    """The terms of `lang` that are searched as text: '@' terms are X mentions, for X only."""
    return [term for term in _unique(service.terms[lang]) if not term.startswith("@")]


def phrase_queries(service: Service, outage_words: dict[str, tuple[str, ...]]) -> list[Query]:
    """One query per (term, outage word) of each language (`text_terms` x the language's words)."""
    return [
        Query(service.name, f"{quote(term)} {quote(word)}", lang)
        for lang in LANGS
        for term in text_terms(service, lang)
        for word in outage_words[lang]
    ]
