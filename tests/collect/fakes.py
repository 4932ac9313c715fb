"""Local stand-ins for the X, Bluesky and Mastodon APIs.

`FakeServer` is a real HTTP server on 127.0.0.1 (stdlib, in a thread). Each `Fake*` class keeps a
small dataset, newest first, and answers searches over it the way the real API pages: responses use
the real JSON shapes, pagination tokens stay valid when new posts arrive, and `since` bounds behave
like the real ones (Bluesky's is inclusive). Tests inject failures with `queue` (served first, to any
request) or `intercept` (a function that may answer instead of the dataset).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOW = datetime.now(UTC).replace(microsecond=0)
PAGE_SIZE = 2  # small pages so three posts already make a two-page sweep


def iso(moment: datetime) -> str:
    """The API timestamp style: milliseconds and a Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def posted(n: int) -> datetime:
    """When post number n was written: later numbers are newer, all in the last two hours."""
    return NOW - timedelta(minutes=120 - n)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: JSON; str/bytes: sent as is (malformed JSON)
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return self.body.encode() if isinstance(self.body, str) else json.dumps(self.body).encode()


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


class FakeServer:
    """Serves `routes[(method, path)]`, after `queue` (for the next GETs) and `intercept` had their say."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[[Seen], Reply]] = {}
        self.seen: list[Seen] = []
        self.queue: list[Reply] = []
        self.intercept: Callable[[Seen], Reply | None] | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self  # type: ignore[attr-defined]
        # A short poll interval: shutdown waits for it, once per test.
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        if self.queue and seen.method == "GET":  # searches only: a Bluesky login is a POST
            return self.queue.pop(0)
        reply = self.intercept(seen) if self.intercept else None
        if reply is not None:
            return reply
        route = self.routes.get((seen.method, seen.path))
        return route(seen) if route else Reply(404, {"error": "NotFound", "message": seen.path})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.answer(Seen(self.command, url.path, params, headers, body))  # type: ignore[attr-defined]
        if reply.drop:
            self.close_connection = True
            return
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client was killed while we held its request

    def log_message(self, *_args: Any) -> None:
        """Quiet: tests read `FakeServer.seen` instead."""


class FakeX:
    """GET /2/tweets/search/recent: since_id, next_token, expansions=author_id."""

    path = "/2/tweets/search/recent"

    def __init__(self, server: FakeServer) -> None:
        self.tweets: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, str]] = {}
        self.count = 0
        server.routes[("GET", self.path)] = self.search

    def add(self, n: int = 1) -> list[str]:
        ids = []
        for _ in range(n):
            self.count += 1
            tweet_id, user_id = str(1_700_000_000_000_000_000 + self.count), str(900 + self.count)
            self.users[user_id] = {"id": user_id, "name": "Camille", "username": f"camille{self.count}"}
            self.add_raw(
                {
                    "id": tweet_id,
                    "text": f"@free la freebox est en panne depuis ce matin ({self.count})",
                    "created_at": iso(posted(self.count)),
                    "lang": "fr",
                    "author_id": user_id,
                    "edit_history_tweet_ids": [tweet_id],
                    "public_metrics": {
                        "retweet_count": 2,
                        "reply_count": 1,
                        "like_count": 3,
                        "quote_count": 0,
                    },
                }
            )
            ids.append(tweet_id)
        return ids

    def add_raw(self, tweet: dict[str, Any]) -> None:
        self.tweets.insert(0, tweet)

    def add_malformed(self) -> None:
        """Two broken tweets among good ones: no text, and an impossible date."""
        self.add(1)
        self.count += 1
        self.add_raw(
            {"id": str(1_700_000_000_000_000_000 + self.count), "created_at": iso(NOW), "lang": "fr"}
        )
        self.count += 1
        self.add_raw(
            {"id": str(1_700_000_000_000_000_000 + self.count), "text": "panne", "created_at": "1970-01-01"}
        )
        self.add(1)

    def search(self, seen: Seen) -> Reply:
        since = int(seen.params.get("since_id", 0))
        below = int(seen.params.get("next_token", "x-0").split("-")[1]) or None
        eligible = [
            t for t in self.tweets if int(t["id"]) > since and (below is None or int(t["id"]) < below)
        ]
        page = eligible[:PAGE_SIZE]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if len(eligible) > len(page):
            meta["next_token"] = f"x-{page[-1]['id']}"
        if not page:
            return Reply(body={"meta": meta})
        users = [self.users[t["author_id"]] for t in page if t.get("author_id") in self.users]
        return Reply(body={"data": page, "includes": {"users": users}, "meta": meta})


class FakeBluesky:
    """GET app.bsky.feed.searchPosts (sort=latest, since inclusive, cursor) and POST createSession."""

    search_path = "/xrpc/app.bsky.feed.searchPosts"
    session_path = "/xrpc/com.atproto.server.createSession"

    def __init__(self, server: FakeServer, *, login: tuple[str, str] | None = None, jwt: str = "") -> None:
        self.posts: list[dict[str, Any]] = []
        self.count = 0
        self.login, self.jwt = login, jwt
        server.routes[("GET", self.search_path)] = self.search
        server.routes[("POST", self.session_path)] = self.create_session

    def add(self, n: int = 1) -> list[str]:
        uris = []
        for _ in range(n):
            self.count += 1
            did = f"did:plc:user{self.count}"
            uri = f"at://{did}/app.bsky.feed.post/3kabc{self.count}"
            when = iso(posted(self.count))
            self.add_raw(
                {
                    "uri": uri,
                    "cid": f"bafyrei{self.count}",
                    "author": {
                        "did": did,
                        "handle": f"camille{self.count}.bsky.social",
                        "displayName": "Camille",
                    },
                    "record": {
                        "$type": "app.bsky.feed.post",
                        "text": f"la freebox est en panne, plus d'internet ({self.count})",
                        "createdAt": when,
                        "langs": ["fr"],
                    },
                    "replyCount": 1,
                    "repostCount": 2,
                    "likeCount": 3,
                    "quoteCount": 0,
                    "indexedAt": when,
                    "labels": [],
                }
            )
            uris.append(uri)
        return uris

    def add_raw(self, view: dict[str, Any]) -> None:
        self.posts.insert(0, view)

    def add_malformed(self) -> None:
        """A post with no record text and one with an unusable uri, among good ones."""
        self.add(1)
        self.count += 1
        self.add_raw(
            {
                "uri": f"at://did:plc:x/app.bsky.feed.post/{self.count}",
                "indexedAt": iso(posted(self.count)),
                "record": {"createdAt": iso(posted(self.count))},
            }
        )
        self.count += 1
        self.add_raw(
            {
                "uri": "https://not-an-at-uri",
                "indexedAt": iso(posted(self.count)),
                "record": {"text": "panne", "createdAt": iso(posted(self.count))},
            }
        )
        self.add(1)

    def search(self, seen: Seen) -> Reply:
        if self.login and seen.headers.get("authorization") != f"Bearer {self.jwt}":
            return Reply(401, {"error": "AuthMissing", "message": "Authentication Required"})
        since, below = seen.params.get("since", ""), seen.params.get("cursor")
        eligible = [
            p for p in self.posts if p["indexedAt"] >= since and (below is None or p["indexedAt"] < below)
        ]
        page = eligible[:PAGE_SIZE]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(eligible)}
        if len(eligible) > len(page):
            body["cursor"] = page[-1]["indexedAt"]
        return Reply(body=body)

    def create_session(self, seen: Seen) -> Reply:
        sent = json.loads(seen.body)
        if self.login is None or (sent.get("identifier"), sent.get("password")) != self.login:
            return Reply(
                401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
            )
        return Reply(
            body={
                "accessJwt": self.jwt,
                "refreshJwt": "refresh",
                "did": "did:plc:me",
                "handle": sent["identifier"],
            }
        )


class FakeMastodon:
    """GET /api/v1/timelines/tag/:tag and /api/v2/search: since_id, max_id, limit, Link headers."""

    search_path = "/api/v2/search"

    def __init__(self, server: FakeServer, tag: str = "freebox", *, domain: str = "mastodon.example") -> None:
        self.server, self.domain = server, domain
        self.tag_path = f"/api/v1/timelines/tag/{tag}"
        self.statuses: list[dict[str, Any]] = []
        self.count = 0
        server.routes[("GET", self.tag_path)] = self.timeline
        server.routes[("GET", self.search_path)] = self.search

    def add(self, n: int = 1, **overrides: Any) -> list[str]:
        ids = []
        for _ in range(n):
            self.count += 1
            status_id = str(110_000_000_000_000_000 + self.count)
            user = f"camille{self.count}"
            self.add_raw(
                {
                    "id": status_id,
                    "created_at": iso(posted(self.count)),
                    "in_reply_to_id": None,
                    "sensitive": False,
                    "spoiler_text": "",
                    "visibility": "public",
                    "language": "fr",
                    "uri": f"https://{self.domain}/users/{user}/statuses/{status_id}",
                    "url": f"https://{self.domain}/@{user}/{status_id}",
                    "replies_count": 1,
                    "reblogs_count": 2,
                    "favourites_count": 3,
                    "content": f'<p>La <a href="https://{self.domain}/tags/freebox" class="mention hashtag">'
                    f"#<span>freebox</span></a> est en panne&nbsp;! ({self.count})</p>",
                    "reblog": None,
                    "account": {
                        "id": str(self.count),
                        "username": user,
                        "acct": user,
                        "display_name": "Camille",
                    },
                    "media_attachments": [],
                    "mentions": [],
                    "tags": [{"name": "freebox", "url": f"https://{self.domain}/tags/freebox"}],
                    **overrides,
                }
            )
            ids.append(status_id)
        return ids

    def add_raw(self, status: dict[str, Any]) -> None:
        self.statuses.insert(0, status)

    def add_malformed(self) -> None:
        """A status with empty content and one with an unparseable date, among good ones."""
        self.add(1)
        self.add(1, content="")
        self.add(1, created_at="hier soir")
        self.add(1)

    def _page(self, seen: Seen) -> list[dict[str, Any]]:
        since, below = int(seen.params.get("since_id", 0)), seen.params.get("max_id")
        eligible = [
            s for s in self.statuses if int(s["id"]) > since and (below is None or int(s["id"]) < int(below))
        ]
        return eligible[: min(PAGE_SIZE, int(seen.params.get("limit", 20)))]

    def timeline(self, seen: Seen) -> Reply:
        page = self._page(seen)
        if not page:
            return Reply(body=[])
        base = f"{self.server.url}{self.tag_path}"
        link = f'<{base}?max_id={page[-1]["id"]}>; rel="next", <{base}?min_id={page[0]["id"]}>; rel="prev"'
        return Reply(body=page, headers={"Link": link})

    def search(self, seen: Seen) -> Reply:
        if "authorization" not in seen.headers:
            return Reply(body={"accounts": [], "statuses": [], "hashtags": []})  # anonymous: no status search
        return Reply(body={"accounts": [], "statuses": self._page(seen), "hashtags": []})
