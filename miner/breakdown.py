"""The number users read: the share of outage reports that carry each type, split by kind.

Downdetector shows "App 57 % / Website 37 %": each figure is the share of the *reports* that name that
place, not a share of type mentions, so a report that names both the app and the site counts in both and a
kind's shares may add up to more (or less) than 100 %. Incidents, the dashboard, the CSV export and the
webhook alert all take their figures from here, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from miner.labels import KIND_TITLES, KINDS, TYPES

Shares = dict[str, float]
"""Share of reports (0-1) by outage type; types no report carries are left out."""


def report_shares(type_counts: Mapping[str, float], reports: float) -> Shares:
    """Each type's count over the number of reports (types with no report left out; {} with no report)."""
    if reports <= 0:
        return {}
    return {t: float(type_counts[t]) / reports for t in TYPES if type_counts.get(t, 0) > 0}


def by_kind(shares: Mapping[str, float]) -> dict[str, Shares]:
    """{"what": {...}, "where": {...}}, each kind's types most reported first (ties in TYPES order)."""
    out = {}
    for kind, labels in KINDS.items():
        ranked = sorted((t for t in labels if shares.get(t, 0) > 0), key=lambda t: -shares[t])
        out[kind] = {t: float(shares[t]) for t in ranked}
    return out


def percent(share: float) -> str:
    """A share for people: "57 %"."""
    return f"{share * 100:.0f} %"


def kind_text(shares: Mapping[str, float], kind: str, top: int | None = 3) -> str:
    """One kind's most reported types, e.g. "app 57 %, website 37 %" ("" when none is named)."""
    return ", ".join(f"{t} {percent(s)}" for t, s in list(by_kind(shares)[kind].items())[:top])


def describe(shares: Mapping[str, float], top: int | None = 3) -> str:
    """Both kinds on one line, e.g. "What fails: posting 34 %, dm 19 % · Where it is seen: app 57 %,
    website 37 %"; a kind with no report naming it says "none named"."""
    return " · ".join(
        f"{KIND_TITLES[kind]}: {kind_text(shares, kind, top) or 'none named'}" for kind in KINDS
    )
