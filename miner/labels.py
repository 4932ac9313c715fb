"""The outage-type taxonomy of data/labeled/GUIDE.md, in one place."""

from __future__ import annotations

import hashlib
from pathlib import Path

TYPES: tuple[str, ...] = ("posting", "dm", "app", "website", "login", "feed", "connectivity", "other")
"""Outage types, multi-label; a post with none of them is not an outage report."""

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
