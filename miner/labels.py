"""The outage-type taxonomy of data/labeled/GUIDE.md, in one place."""

from __future__ import annotations

import hashlib
from pathlib import Path

TYPES: tuple[str, ...] = ("posting", "dm", "app", "website", "login", "feed", "connectivity", "other")
"""Outage types, multi-label; a post with none of them is not an outage report."""

LABELS: tuple[str, ...] = ("outage", *TYPES)
"""Columns of every probability matrix: the outage label first, then the types."""

WHAT: tuple[str, ...] = ("posting", "dm", "login", "feed", "connectivity", "other")
"""Types of the "what fails" kind: the function that is broken."""

WHERE: tuple[str, ...] = ("app", "website")
"""Types of the "where it is seen" kind: the surface the failure shows on. A post takes types of both kinds
("l'appli ne veut pas publier" = posting + app), as Downdetector shows "App 57 % / Website 37 %"."""

KINDS: dict[str, tuple[str, ...]] = {"what": WHAT, "where": WHERE}
"""The two kinds of type, by name; every type is of exactly one kind."""

KIND_TITLES: dict[str, str] = {"what": "What fails", "where": "Where it is seen"}
"""How the dashboard, alerts and the model card head each kind."""


def kind_of(label: str) -> str:
    """The kind ("what" or "where") of an outage type."""
    for kind, labels in KINDS.items():
        if label in labels:
            return kind
    raise ValueError(f"not an outage type: {label!r} (types: {', '.join(TYPES)})")


def split_kinds(types: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """A post's types grouped by kind, each in TYPES order: {"what": [...], "where": [...]}."""
    return {kind: [t for t in TYPES if t in types and t in labels] for kind, labels in KINDS.items()}


LANGS: tuple[str, ...] = ("fr", "en")
"""Languages the classifier is trained and measured on; anything else is "other"."""

CORPUS_DIR = Path("data/labeled")
"""Where the labelled corpus (corpus.jsonl) and its guide live."""

# One author in five goes to the test split: enough test posts for per-language, per-type F1 with the
# rarest types still having a dozen or more test examples.
TEST_PERCENT = 20


def split_of(author: str) -> str:
    """The fixed corpus split of an author ("train" or "test"): a pure function of the author key, so
    adding posts or feedback never moves an author across the split."""
    bucket = int(hashlib.sha256(f"split:{author}".encode()).hexdigest(), 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"
