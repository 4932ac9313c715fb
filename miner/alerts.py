"""Incident alerts to a chat webhook (Slack- and Discord-compatible JSON).

The webhook URL comes from `MINER_WEBHOOK_URL`; it often embeds a secret token, so it is never
logged or put in an error message.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import httpx

from miner.breakdown import by_kind, describe
from miner.errors import SourceError

Event = Literal["start", "end"]
# A chat webhook answers in well under a second; a slow one must not stall the watch loop.
WEBHOOK_TIMEOUT_S = 10.0
# Quotes in an alert: enough to see what users say, short enough for a chat message.
ALERT_QUOTES = 2
QUOTE_CHARS = 200
LEVEL_WORDS = {"possible": "possible problems", "outage": "problems detected"}


def webhook_url() -> str | None:
    """The configured webhook, or None when alerts are off."""
    return os.environ.get("MINER_WEBHOOK_URL") or None


def _top_types(shares: dict[str, float], k: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Each kind's k most reported types with their share of the incident's reports."""
    return {
        kind: [{"type": t, "share": round(s, 3)} for t, s in list(ranked.items())[:k]]
        for kind, ranked in by_kind(shares).items()
    }


def alert_payload(event: Event, service: str, incident: dict[str, Any], quotes: list[str]) -> dict[str, Any]:
    """The JSON body: `text` (Slack), `content` (Discord) and the structured incident for bots;
    `top_types` holds both breakdowns, {"what": [...], "where": [...]}."""
    shares = incident.get("type_shares") or {}
    type_words = describe(shares) if shares else "no type breakdown"
    picked = [q[:QUOTE_CHARS] for q in quotes[:ALERT_QUOTES]]
    if event == "start":
        head = f"{service}: {LEVEL_WORDS.get(incident['level'], incident['level'])} since {incident['start']}"
    else:
        head = f"{service}: incident over (started {incident['start']}, ended {incident['end']})"
    counts = f"peak {incident['peak_count']} reports vs {incident['expected_at_peak']:.1f} expected"
    lines = [head, counts, type_words, *(f"> {q}" for q in picked)]
    message = "\n".join(lines)
    return {
        "text": message,
        "content": message,
        "event": event,
        "service": service,
        "level": incident["level"],
        "incident": incident,
        "top_types": _top_types(shares),
        "quotes": picked,
    }


def send_alert(url: str, payload: dict[str, Any], client: httpx.Client | None = None) -> None:
    """POST the alert; a failure is a SourceError that names the status, never the URL."""
    own = client is None
    client = client or httpx.Client(timeout=WEBHOOK_TIMEOUT_S)
    try:
        response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise SourceError(f"webhook unreachable ({type(exc).__name__})") from None
    finally:
        if own:
            client.close()
    if response.status_code >= 400:
        raise SourceError(f"webhook refused the alert: HTTP {response.status_code}")
