"""Bluesky post search (`app.bsky.feed.searchPosts`) with plain httpx.

Without credentials it asks the public AppView; Bluesky often refuses unauthenticated search there
(HTTP 403) and never serves a second page to it, so an app password (`BLUESKY_HANDLE`,
`BLUESKY_APP_PASSWORD`) is the reliable way: we log in on the account's PDS (createSession) and
search through it. Sweeps page with `cursor`; a finished sweep's newest `indexedAt` is the next
sweep's `since` (inclusive, so the boundary post comes back once and the store skips it).
"""

from __future__ import annotations

import re
from typing import Any

from miner.collect.base import Batch, Collector, convert, dig, expect, make_post, without
from miner.collect.http import JsonApi
from miner.collect.policy import ApiError, RetryPolicy
from miner.errors import SourceError
from miner.post import Post
from miner.services import Query
from miner.sources.records import Rejected, parse_time

PUBLIC_APPVIEW_URL = "https://public.api.bsky.app"
DEFAULT_PDS_URL = "https://bsky.social"  # where bsky.social accounts log in; it proxies search to the AppView
SEARCH_PATH = "/xrpc/app.bsky.feed.searchPosts"
SESSION_PATH = "/xrpc/com.atproto.server.createSession"
PAGE_SIZE = 100  # searchPosts maximum
POST_COLLECTION = "app.bsky.feed.post"
POST_URI_RE = re.compile(r"at://([^/]+)/app\.bsky\.feed\.post/([^/]+)")
PRIVATE_KEYS = ("author",)  # handle, display name, avatar
CREDENTIALS_HINT = "set BLUESKY_HANDLE and BLUESKY_APP_PASSWORD (the public AppView often refuses search)"


class BlueskyCollector(Collector):
    """searchPosts, anonymous on the public AppView or logged in with an app password."""

    source = "bluesky"

    def __init__(
        self,
        *,
        handle: str | None = None,
        app_password: str | None = None,
        public_url: str = PUBLIC_APPVIEW_URL,
        pds_url: str = DEFAULT_PDS_URL,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._login = {"identifier": handle, "password": app_password} if handle and app_password else None
        self._logged_in = False
        self.api = JsonApi(self.source, pds_url if self._login else public_url, policy or RetryPolicy())

    def fetch(self, query: Query, cursor: str | None, since: str | None) -> Batch:
        params = {"q": query.text, "sort": "latest", "limit": PAGE_SIZE, "lang": query.lang, "since": since}
        payload = expect(self._search({**params, "cursor": cursor}), dict, "the body", self.source)
        views = expect(payload.get("posts"), list, "posts", self.source)
        posts, rejected = convert(self.source, views, lambda view: self._post(view, query))
        indexed = [p.raw["indexedAt"] for p in posts if isinstance(p.raw.get("indexedAt"), str)]
        newest = max(indexed, key=_instant, default=None)
        return Batch(posts, rejected, cursor=payload.get("cursor") or None, newest=newest)

    def _search(self, params: dict[str, Any]) -> Any:
        """One search call; logs in first when configured, and again once when the session expired."""
        if self._login and not self._logged_in:
            self._create_session()
        try:
            return self.api.request("GET", SEARCH_PATH, params=params)[0]
        except ApiError as exc:
            if self._login and exc.code == "ExpiredToken":
                self._create_session()
                return self.api.request("GET", SEARCH_PATH, params=params)[0]
            if not self._login and exc.status in (401, 403):
                raise SourceError(f"{exc}; {CREDENTIALS_HINT}") from None
            raise

    def _create_session(self) -> None:
        try:
            session, _ = self.api.request("POST", SESSION_PATH, json=self._login)
        except ApiError as exc:
            raise SourceError(f"{exc}; check BLUESKY_HANDLE and BLUESKY_APP_PASSWORD") from None
        token = dig(session, "accessJwt")
        if not isinstance(token, str) or not token:
            raise SourceError("bluesky: createSession answered without an access token")
        self.api.set_token(token)
        self._logged_in = True

    def _post(self, view: dict[str, Any], query: Query) -> Post:
        uri = view.get("uri")
        match = POST_URI_RE.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise Rejected(f"not a post URI: {uri!r}"[:120])
        langs = dig(view, "record", "langs")
        return make_post(
            self.source,
            query.service,
            without(view, PRIVATE_KEYS),
            id=uri,
            text=dig(view, "record", "text"),
            created_at=dig(view, "record", "createdAt"),
            author=dig(view, "author", "handle"),
            url=web_url(match[1], match[2]),
            lang=langs[0] if isinstance(langs, list) and langs else query.lang,
            likes=view.get("likeCount"),
            reposts=view.get("repostCount"),
            replies=view.get("replyCount"),
        )

    def close(self) -> None:
        self.api.close()


def web_url(did: str, rkey: str) -> str:
    """A post's page on bsky.app, by DID: no handle is stored."""
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def _instant(value: str) -> float:
    """Sort key for API timestamps, whatever their precision or offset; unparseable ones sort first."""
    try:
        return parse_time(value).timestamp()
    except Rejected:
        return float("-inf")
