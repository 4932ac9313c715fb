"""A small JSON-over-HTTP client for the sources we call with plain httpx (Bluesky, Mastodon).

It maps HTTP outcomes onto the shared policy's signals (429 -> RateLimited, 5xx/network/bad JSON ->
Transient) and turns other 4xx answers into an `ApiError` carrying the API's own error text. Tokens
travel only in the Authorization header, which neither httpx's logs nor our messages include.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from miner.collect.policy import ApiError, RateLimited, RetryPolicy, Transient

USER_AGENT = "outage-miner/0.1 (+collects public posts about service outages)"
# Search answers in a few seconds; a hung connection must fail (and be retried), not stall the collector.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# API error texts are short; a longer body is an HTML error page not worth printing.
MAX_DETAIL_CHARS = 200


class JsonApi:
    """JSON requests to one API base URL, each run through the shared retry policy."""

    def __init__(self, source: str, base_url: str, policy: RetryPolicy, token: str | None = None) -> None:
        self.source = source
        self.policy = policy
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT
        )
        if token:
            self.set_token(token)

    def set_token(self, token: str) -> None:
        """Authenticate later requests (Bluesky gets its token from a login call)."""
        self.client.headers["Authorization"] = f"Bearer {token}"

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> tuple[Any, httpx.Response]:
        """The decoded JSON body and the response (for its headers), retrying what is worth retrying."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        return self.policy.call(f"{self.source} {path}", lambda: self._once(method, path, clean, json))

    def _once(self, method: str, path: str, params: dict[str, Any], json: Any) -> tuple[Any, httpx.Response]:
        try:
            response = self.client.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            raise Transient(f"network error ({type(exc).__name__}: {exc})") from exc
        if response.status_code == 429:
            raise RateLimited(response.headers)
        if response.status_code >= 500:
            raise Transient(f"HTTP {response.status_code} {response.reason_phrase}")
        if response.status_code >= 400:
            raise self._api_error(path, response)
        try:
            return response.json(), response
        except ValueError:
            raise Transient("the response is not valid JSON") from None

    def _api_error(self, path: str, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = str(body.get("error") or "")
        detail = (
            " ".join(str(part) for part in (code, body.get("message") or "") if part)
            or response.reason_phrase
        )
        detail = " ".join(detail.split())[:MAX_DETAIL_CHARS]
        message = f"{self.source}: HTTP {response.status_code} from {path}: {detail}"
        return ApiError(message, response.status_code, code)

    def close(self) -> None:
        self.client.close()
