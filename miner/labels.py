"""The outage-type taxonomy of data/labeled/GUIDE.md, in one place."""

from __future__ import annotations

from pathlib import Path

TYPES: tuple[str, ...] = ("posting", "dm", "app", "website", "login", "feed", "connectivity", "other")
"""Outage types, multi-label; a post with none of them is not an outage report."""

LANGS: tuple[str, ...] = ("fr", "en")
"""Languages the classifier is trained and measured on; anything else is "other"."""

CORPUS_DIR = Path("data/labeled")
"""Where the labelled corpus (corpus.jsonl) and its guide live."""
