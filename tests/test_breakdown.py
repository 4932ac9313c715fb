"""Shares of reports by kind: the figures users read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miner.breakdown import by_kind, describe, report_shares
from miner.labels import KINDS, TYPES, WHAT, WHERE, kind_of, split_kinds


def test_every_type_is_of_exactly_one_kind() -> None:
    assert sorted(WHAT + WHERE) == sorted(TYPES)
    assert {kind_of(t) for t in WHERE} == {"where"} and {kind_of(t) for t in WHAT} == {"what"}
    with pytest.raises(ValueError, match="'outage'"):
        kind_of("outage")
    assert split_kinds(["website", "app", "posting"]) == {"what": ["posting"], "where": ["app", "website"]}


def test_shares_are_of_reports_not_of_mentions() -> None:
    # 10 reports: 6 name the app, 4 the website (2 of them both), 5 say posting fails
    shares = report_shares({"app": 6, "website": 4, "posting": 5, "dm": 0}, 10)
    assert shares == {"posting": 0.5, "app": 0.6, "website": 0.4}
    assert by_kind(shares) == {"what": {"posting": 0.5}, "where": {"app": 0.6, "website": 0.4}}
    assert describe(shares) == "What fails: posting 50 % · Where it is seen: app 60 %, website 40 %"
    assert describe({"dm": 1.0}) == "What fails: dm 100 % · Where it is seen: none named"
    assert report_shares({"app": 3}, 0) == {}


@given(st.lists(st.lists(st.sampled_from(TYPES), min_size=1, unique=True), min_size=1, max_size=50))
def test_each_share_is_the_fraction_of_reports_carrying_the_type(reports: list[list[str]]) -> None:
    counts = {t: sum(t in r for r in reports) for t in TYPES}
    shares = report_shares(counts, len(reports))
    for kind, ranked in by_kind(shares).items():
        assert set(ranked) <= set(KINDS[kind])
        assert list(ranked.values()) == sorted(ranked.values(), reverse=True)
        for t, s in ranked.items():
            assert 0 < s <= 1 and s == pytest.approx(counts[t] / len(reports))
    assert set(shares) == {t for r in reports for t in r}
