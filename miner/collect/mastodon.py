"""Mastodon hashtag timelines (public) and status search (needs a token), with plain httpx.

One collector per instance: status ids are local to an instance, so checkpoints are too. Sweeps page
down with `max_id` (from the Link header when the API sends one) above the last sweep's newest id
(`since_id`). The token is sent only to the instance it belongs to.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from miner.collect.base import Batch, Collector, convert, dig, expect, make_post, without
from miner.collect.http import JsonApi
from miner.collect.policy import RetryPolicy
from miner.post import Post
from miner.services import Query

DEFAULT_INSTANCE = "https://mastodon.social"
PAGE_SIZE = 40  # the maximum for timelines and search
PRIVATE_KEYS = ("account", "url", "uri")  # the account, and URLs that spell out its handle
BLANK_LINES_RE = re.compile(r"\n{3,}")


def instance_url(instance: str) -> str:
    """`mastodon.social` or a full URL (http:// for a local test server) as a base URL."""
    instance = instance.strip().rstrip("/")
    return instance if instance.startswith(("https://", "http://")) else f"https://{instance}"


class _PlainText(HTMLParser):
    """Status HTML to text: paragraphs and line breaks kept, tags dropped, entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of a status; link text is kept whole (Mastodon hides parts of long URLs in spans)."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return BLANK_LINES_RE.sub("\n\n", "".join(parser.parts)).strip()


class MastodonCollector(Collector):
    """Hashtag timelines ('#tag' queries) and, with a token, search (other queries) on one instance."""

    source = "mastodon"

    def __init__(self, instance: str, *, token: str | None = None, policy: RetryPolicy | None = None) -> None:
        self.instance = instance_url(instance)
        self.host = urlsplit(self.instance).netloc
        self.can_search = bool(token)
        self.api = JsonApi(self.source, self.instance, policy or RetryPolicy(), token=token)

    def checkpoint_key(self, query: Query) -> str:
        return f"{self.host} {query.key}"

    def accepts(self, query: Query) -> bool:
        return query.text.startswith("#") or self.can_search

    def fetch(self, query: Query, cursor: str | None, since: str | None) -> Batch:
        page = {"limit": PAGE_SIZE, "max_id": cursor, "since_id": since}
        if query.text.startswith("#"):
            path = f"/api/v1/timelines/tag/{quote(query.text[1:], safe='')}"
            statuses, response = self.api.request("GET", path, params=page)
        else:
            q = f"{query.text} language:{query.lang}" if query.lang else query.text
            params = {**page, "q": q, "type": "statuses"}
            body, response = self.api.request("GET", "/api/v2/search", params=params)
            statuses = expect(body, dict, "the body", self.source).get("statuses")
        statuses = expect(statuses, list, "the statuses", self.source)
        originals = [s for s in statuses if not dig(s, "reblog")]  # a boost repeats a post we count once
        posts, rejected = convert(self.source, originals, lambda status: self._post(status, query.service))
        ids = [int(i) for i in (dig(s, "id") for s in statuses) if isinstance(i, str) and i.isdigit()]
        newest = str(max(ids)) if ids else None
        return Batch(posts, rejected, cursor=_next_max_id(response, ids), newest=newest)

    def _post(self, status: dict[str, Any], service: str) -> Post:
        content = status.get("content")
        text = html_to_text(content) if isinstance(content, str) else content
        warning = status.get("spoiler_text")
        if warning and isinstance(text, str):
            text = f"{warning}\n\n{text}"  # the content warning is part of what the author wrote
        return make_post(
            self.source,
            service,
            without(status, PRIVATE_KEYS),
            id=status.get("id"),
            text=text,
            created_at=status.get("created_at"),
            author=self._acct(dig(status, "account", "acct")),
            url=f"{self.instance}/statuses/{status.get('id')}",  # the web UI's handle-free route
            lang=status.get("language"),
            likes=status.get("favourites_count"),
            reposts=status.get("reblogs_count"),
            replies=status.get("replies_count"),
        )

    def _acct(self, acct: Any) -> str | None:
        """user@domain everywhere: local accounts come without a domain, remote ones with it."""
        if not isinstance(acct, str) or not acct:
            return None
        return acct if "@" in acct else f"{acct}@{self.host}"

    def close(self) -> None:
        self.api.close()


def _next_max_id(response: httpx.Response, ids: list[int]) -> str | None:
    """Where the next, older page starts: the Link header's max_id, else the oldest id on this page."""
    if not ids:
        return None
    link = response.links.get("next", {}).get("url")
    max_id = parse_qs(urlsplit(link).query).get("max_id") if link else None
    return max_id[0] if max_id else str(min(ids))
