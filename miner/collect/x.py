"""X (Twitter) recent search through tweepy's API v2 `Client`.

Pages with `next_token`, and a finished sweep's `newest_id` becomes the next sweep's `since_id`.
tweepy hard-codes https://api.twitter.com and sets no timeout; `_Redirect` (mounted on its requests
session) is the one place that changes both, for tests and proxies alike.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from miner.collect.base import Batch, Collector, convert, dig, expect, make_post, without
from miner.collect.policy import ApiError, RateLimited, RetryPolicy, Transient
from miner.post import Post
from miner.services import Query

X_API_URL = "https://api.twitter.com"  # the host tweepy writes into every request
PAGE_SIZE = 100  # recent search maximum: fewer calls against a 60-per-15-minutes limit
# Seconds for connect and for each read: search answers quickly, a hung socket must fail and be retried.
TIMEOUT_S = 30.0
TWEET_FIELDS = ["created_at", "lang", "public_metrics", "author_id"]
PRIVATE_KEYS = ("author_id",)  # identifies the author as surely as the handle


class _Redirect(HTTPAdapter):
    """Sends requests meant for api.twitter.com to `base_url`, always with a timeout."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = self.base_url + (request.url or "").removeprefix(X_API_URL)
        kwargs["timeout"] = kwargs.get("timeout") or TIMEOUT_S
        return super().send(request, **kwargs)


class _HideSecret(logging.Filter):
    """tweepy logs every request's headers at DEBUG, bearer token included: mask it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "***"), ()
        return True


class XCollector(Collector):
    """Recent search (last 7 days) for one bearer token."""

    source = "x"

    def __init__(
        self, bearer_token: str, *, base_url: str = X_API_URL, policy: RetryPolicy | None = None
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.client = tweepy.Client(bearer_token=bearer_token, return_type=dict)
        self.client.session.mount(X_API_URL, _Redirect(base_url))
        self._log_filter = _HideSecret(bearer_token)
        logging.getLogger("tweepy.client").addFilter(self._log_filter)

    def fetch(self, query: Query, cursor: str | None, since: str | None) -> Batch:
        answer = self.policy.call("x recent search", lambda: self._search(query.text, cursor, since))
        payload = expect(answer, dict, "the body", self.source)
        tweets = expect(payload.get("data", []), list, "data", self.source)
        users = expect(dig(payload, "includes", "users") or [], list, "includes.users", self.source)
        handles = {dig(u, "id"): dig(u, "username") for u in users if isinstance(dig(u, "id"), str)}
        posts, rejected = convert(
            self.source, tweets, lambda tweet: self._post(tweet, handles, query.service)
        )
        meta = payload.get("meta") or {}
        return Batch(posts, rejected, cursor=dig(meta, "next_token"), newest=dig(meta, "newest_id"))

    def _search(self, text: str, cursor: str | None, since: str | None) -> Any:
        """One API call, its failures translated for the retry policy (messages never hold the token)."""
        options = {"next_token": cursor, "since_id": since}
        try:
            return self.client.search_recent_tweets(
                text,
                max_results=PAGE_SIZE,
                expansions=["author_id"],
                tweet_fields=TWEET_FIELDS,
                user_fields=["username"],
                **{k: v for k, v in options.items() if v},
            )
        except tweepy.TooManyRequests as exc:
            raise RateLimited(exc.response.headers) from None
        except tweepy.TwitterServerError as exc:
            raise Transient(f"HTTP {exc.response.status_code} {exc.response.reason}") from None
        except tweepy.Unauthorized:
            raise ApiError(
                "x: the API refused the bearer token (HTTP 401): check X_BEARER_TOKEN", 401
            ) from None
        except tweepy.HTTPException as exc:
            status = exc.response.status_code
            detail = " ".join("; ".join(exc.api_messages).split()) or exc.response.reason
            raise ApiError(f"x: HTTP {status}: {detail}", status) from None
        except requests.exceptions.JSONDecodeError:
            raise Transient("the response is not valid JSON") from None
        except requests.RequestException as exc:
            raise Transient(f"network error ({type(exc).__name__})") from None

    def _post(self, tweet: dict[str, Any], handles: dict[str, Any], service: str) -> Post:
        tweet_id = tweet.get("id")
        return make_post(
            self.source,
            service,
            without(tweet, PRIVATE_KEYS),
            id=tweet_id,
            text=tweet.get("text"),
            created_at=tweet.get("created_at"),
            author=handles.get(str(tweet.get("author_id"))),
            url=f"https://x.com/i/web/status/{tweet_id}",  # works without the handle we do not keep
            lang=tweet.get("lang"),
            public_metrics=tweet.get("public_metrics"),
        )

    def close(self) -> None:
        logging.getLogger("tweepy.client").removeFilter(self._log_filter)
        self.client.session.close()
