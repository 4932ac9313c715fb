"""The collector interface, and the paging and record conversion every source shares.

All three APIs list search results newest first and page backwards in time. A *sweep* walks from the
newest post down to where the previous sweep started; its checkpoint after each page says how to go
on, so a crash between pages resumes at the next page and a later run fetches only newer posts.
A source implements only `fetch` (one API call, converted); `Collector.pages` does the rest.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Self

from miner.collect.policy import ApiError
from miner.errors import SourceError
from miner.post import Post
from miner.services import Query
from miner.sources.records import ColumnMap, Rejected, to_post

log = logging.getLogger(__name__)

# What `fields` in `make_post` are called, so the import validation (`to_post`) reads them as is.
FIELDS = ColumnMap(text="text", time="created_at", id="id", author="author")
# A reject is logged with its id; ids longer than this are garbage not worth a log line.
MAX_ID_CHARS = 128


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that could not become a Post: its id when it has one, and why."""

    id: str
    reason: str


@dataclass(slots=True)
class Page:
    """What one API call produced: posts, rejected records, and the checkpoint to save with them."""

    posts: list[Post]
    rejected: list[Reject]
    checkpoint: dict[str, Any]


@dataclass(slots=True)
class Batch:
    """One API response converted by a source, before `sweep` decides how to continue."""

    posts: list[Post]
    rejected: list[Reject]
    cursor: str | None  # where the next, older page starts; None when there is none
    newest: str | None  # the newest position on this page: the next sweep's lower bound


class Collector(ABC):
    """One source. Subclasses set `source` and implement `fetch`; callers use `pages`."""

    source: ClassVar[str]

    @abstractmethod
    def fetch(self, query: Query, cursor: str | None, since: str | None) -> Batch:
        """One page of results newer than `since`, starting at `cursor` (None: the newest)."""

    def pages(
        self, query: Query, checkpoint: Mapping[str, Any], horizon: datetime | None = None
    ) -> Iterator[Page]:
        """Pages of new posts for `query`, resuming from `checkpoint`, none older than `horizon`."""
        return sweep(lambda cursor, since: self.fetch(query, cursor, since), checkpoint, horizon)

    def checkpoint_key(self, query: Query) -> str:
        """Where this query's checkpoint is saved (a Mastodon instance adds its host)."""
        return query.key

    def accepts(self, query: Query) -> bool:
        """Whether this collector can run `query` with the credentials it has."""
        return True

    @abstractmethod
    def close(self) -> None:
        """Release the HTTP connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def sweep(
    fetch: Callable[[str | None, str | None], Batch], checkpoint: Mapping[str, Any], horizon: datetime | None
) -> Iterator[Page]:
    """Page back from the newest post to the last sweep's newest one (`since`).

    Mid-sweep the checkpoint keeps the cursor, the lower bound and the newest position seen at the
    start; at the end only that newest position, which becomes the next sweep's lower bound. Posts
    older than `horizon` (`--since`) end the sweep early, as if it had reached the lower bound. A saved
    position the API refuses (4xx) is dropped once, and the sweep starts again from the newest post.
    """
    since, cursor, top = checkpoint.get("since"), checkpoint.get("cursor"), checkpoint.get("top")
    saved = bool(since or cursor)
    while True:
        try:
            batch = fetch(cursor, since)
        except ApiError as exc:
            if not saved:
                raise
            # APIs refuse positions that grew too old (X: a since_id beyond its 7-day window): start
            # over once; the store skips what was already fetched.
            log.warning("%s; starting a new sweep without the saved position", exc)
            since = cursor = top = None
            saved = False
            continue
        saved = False
        top = top or batch.newest
        posts = [p for p in batch.posts if horizon is None or p.created_at >= horizon]
        empty = not (batch.posts or batch.rejected)  # guards against an API that returns a cursor forever
        ended = not batch.cursor or empty or len(posts) < len(batch.posts)
        cursor = None if ended else batch.cursor
        state = {"since": top or since} if ended else {"since": since, "cursor": cursor, "top": top}
        yield Page(posts, batch.rejected, state)
        if ended:
            return


def make_post(source: str, service: str, raw: dict[str, Any], **fields: Any) -> Post:
    """Validate normalised fields (id, text, created_at, author, url, lang, likes, reposts, replies)
    with the same rules as file imports; `raw` is stored as the API sent it, minus private keys."""
    if fields.get("id") in (None, ""):
        raise Rejected("missing id")
    post = to_post(fields, replace(FIELDS, source=source, service=service))
    return replace(post, raw=raw)


def convert(
    source: str, records: Iterable[Any], make: Callable[[dict[str, Any]], Post]
) -> tuple[list[Post], list[Reject]]:
    """Posts for the good records, a Reject with the reason for each bad one: one bad record never
    costs the page."""
    posts: list[Post] = []
    rejected: list[Reject] = []
    for record in records:
        try:
            if not isinstance(record, dict):
                raise Rejected(f"record is a {type(record).__name__}, not an object")
            posts.append(make(record))
        except (Rejected, ValueError, OverflowError) as exc:
            reject = Reject(_record_id(record), str(exc))
            log.warning("%s: rejected record %s: %s", source, reject.id, reject.reason)
            rejected.append(reject)
    return posts, rejected


def _record_id(record: Any) -> str:
    value = dig(record, "id") or dig(record, "uri")
    return str(value)[:MAX_ID_CHARS] if isinstance(value, str | int) else "?"


def dig(record: Any, *keys: str) -> Any:
    """record[k1][k2]…, or None when a level is missing or not an object: API records vary."""
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def without(record: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The record minus keys that would identify the author (handles, profile URLs)."""
    drop = set(keys)
    return {k: v for k, v in record.items() if k not in drop}


def expect(value: Any, kind: type, what: str, source: str) -> Any:
    """`value` when it has the expected JSON type; a response of another shape is not retried."""
    if not isinstance(value, kind):
        raise SourceError(
            f"{source}: unexpected response: {what} is {type(value).__name__}, not {kind.__name__}"
        )
    return value
