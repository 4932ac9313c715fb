"""The webhook alert's body: both breakdowns, in words and structured."""

from __future__ import annotations

from miner.alerts import alert_payload

INCIDENT = {
    "start": "2026-11-17T10:30:00+00:00",
    "end": "2026-11-17T12:30:00+00:00",
    "level": "outage",
    "peak_count": 80,
    "expected_at_peak": 2.0,
    "type_shares": {"posting": 0.34, "dm": 0.19, "app": 0.53, "website": 0.34, "other": 0.1, "feed": 0.2},
}


def test_alert_carries_what_fails_and_where_it_is_seen() -> None:
    payload = alert_payload("start", "x", INCIDENT, ["impossible de tweeter depuis l'appli"])
    assert payload["top_types"] == {
        "what": [
            {"type": "posting", "share": 0.34},
            {"type": "feed", "share": 0.2},
            {"type": "dm", "share": 0.19},
        ],
        "where": [{"type": "app", "share": 0.53}, {"type": "website", "share": 0.34}],
    }
    assert "What fails: posting 34 %, feed 20 %, dm 19 % · Where it is seen: app 53 %, website 34 %" in (
        payload["text"].splitlines()
    )


def test_alert_without_shares_says_so() -> None:
    payload = alert_payload("end", "x", {**INCIDENT, "type_shares": {}}, [])
    assert payload["top_types"] == {"what": [], "where": []}
    assert "no type breakdown" in payload["text"]
