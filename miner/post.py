"""The one record type every stage passes along: a public post about a service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Post:
    """A post as stored: `author` is already pseudonymised (see `miner.privacy`)."""

    source: str
    id: str
    text: str
    created_at: datetime
    service: str = ""
    lang: str = ""
    author: str = ""
    url: str = ""
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError(f"created_at must be timezone-aware, got {self.created_at!r}")
        if not self.source or not self.id:
            raise ValueError(f"source and id are required, got source={self.source!r} id={self.id!r}")
