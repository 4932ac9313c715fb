"""Pseudonymise author handles before they reach the store.

A salted hash lets the detector count one report per author and exclude brand accounts
without keeping who wrote what. The salt comes from `MINER_AUTHOR_SALT`, else from a local
secret file created once (`MINER_SALT_FILE`, default `data/.author-salt`). Set
`MINER_KEEP_HANDLES=1` to store raw handles instead (the dashboard then shows them).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import lru_cache
from pathlib import Path

PSEUDONYM_PREFIX = "anon:"
# 16 hex digits = 64 bits: collisions stay negligible for millions of authors, ids stay short.
PSEUDONYM_HEX_DIGITS = 16
DEFAULT_SALT_FILE = Path("data/.author-salt")
# Authors post many times: an import hashes each one once while it stays among the most recent this many
# (a few MB), not once per post.
PSEUDONYMS_CACHED = 65_536


def keep_handles() -> bool:
    """True when the user opted in to storing raw handles."""
    return os.environ.get("MINER_KEEP_HANDLES", "").strip().lower() in {"1", "true", "yes"}


@lru_cache(maxsize=4)
def _salt_from_file(name: str) -> str:
    """The salt kept in file `name`, created on first use (cached per name: `salt` runs once per post)."""
    path = Path(name)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    path.write_text(salt, encoding="utf-8")
    path.chmod(0o600)
    return salt


def salt() -> str:
    """The secret salt: environment first, then the local secret file (created on first use)."""
    env = os.environ.get("MINER_AUTHOR_SALT", "").strip()
    if env:
        return env
    return _salt_from_file(os.environ.get("MINER_SALT_FILE", str(DEFAULT_SALT_FILE)))


def author_key(handle: str | None) -> str:
    """What the store keeps for an author: the handle (opt-in) or its salted hash; '' when unknown."""
    handle = (handle or "").strip().lstrip("@").lower()
    if not handle:
        return ""
    if keep_handles():
        return handle
    return _pseudonym(salt(), handle)


@lru_cache(maxsize=PSEUDONYMS_CACHED)
def _pseudonym(salt: str, handle: str) -> str:
    digest = hashlib.sha256(f"{salt}\x00{handle}".encode()).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def is_pseudonym(author: str) -> bool:
    """True when the stored author is a hash, so no handle may be shown."""
    return author.startswith(PSEUDONYM_PREFIX)
