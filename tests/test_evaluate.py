"""NAB scoring rules, and the detector's score on the real NAB realTweets series."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from miner.detect import DetectConfig
from miner.evaluate import (
    FREE_OUTAGE,
    _outage_f1,
    _shares,
    evaluate_free,
    evaluate_nab,
    format_day,
    format_report,
    main,
    probation_end,
    score_alarms,
)
from miner.sensitivity import SENSITIVITY
from tests.realdata import FREE_POSTS, NAB


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


WINDOWS = [(ts("2015-03-02 00:00"), ts("2015-03-03 00:00")), (ts("2015-03-10 00:00"), ts("2015-03-11 00:00"))]
ANOMALIES = [ts("2015-03-02 12:00"), ts("2015-03-10 12:00")]


def test_window_found_by_an_alarm_inside_it_with_delay_from_the_label() -> None:
    alarms = [ts("2015-03-02 11:00"), ts("2015-03-02 13:00"), ts("2015-03-05 00:00")]
    score = score_alarms(alarms, WINDOWS, ANOMALIES, ts("2015-03-01"))
    assert (score["found"], score["windows"], score["false_alarms"]) == (1, 2, 1)
    assert score["delays_min"] == [-60.0]
    assert score["false_alarm_times"] == ["2015-03-05T00:00:00+00:00"]


def test_window_edges_count_as_inside() -> None:
    score = score_alarms([WINDOWS[0][0], WINDOWS[1][1]], WINDOWS, ANOMALIES, ts("2015-03-01"))
    assert (score["found"], score["false_alarms"]) == (2, 0)


def test_alarms_in_the_probationary_period_are_ignored() -> None:
    alarms = [ts("2015-03-01 00:00"), ts("2015-03-02 06:00"), ts("2015-03-10 06:00")]
    score = score_alarms(alarms, WINDOWS, ANOMALIES, ts("2015-03-05"))
    assert (score["found"], score["false_alarms"]) == (1, 0)


def test_window_without_label_has_unknown_delay() -> None:
    score = score_alarms([ts("2015-03-02 06:00")], WINDOWS, [], ts("2015-03-01"))
    assert score["found"] == 1 and math.isnan(score["delays_min"][0])


@pytest.mark.parametrize(("rows", "first_counted"), [(1000, 150), (15_902, 750)])
def test_probation_is_15_percent_capped_at_750_rows_like_nab(rows: int, first_counted: int) -> None:
    index = pd.date_range("2015-01-01", periods=rows, freq="5min", tz="UTC")
    assert probation_end(index) == index[first_counted]


def test_report_lists_every_series_and_the_total() -> None:
    result = {
        "series": {"a.csv": {"windows": 2, "found": 1, "false_alarms": 3, "delays_min": [10.0]}},
        "total": {"windows": 2, "found": 1, "false_alarms": 3, "delays_min": [10.0]},
    }
    lines = format_report(result).splitlines()
    assert lines[1].split() == ["a.csv", "1/2", "3", "+10", "min"]
    assert lines[2].split()[:3] == ["TOTAL", "1/2", "3"]


def test_missing_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nab", str(tmp_path)]) == 2
    assert "no labels.json" in capsys.readouterr().err
    assert main(["nab", str(NAB), "--sensitivity", "loud"]) == 2
    assert capsys.readouterr().err.startswith("error: sensitivity must be low, normal, high")


@pytest.fixture(scope="module")
def nab_result() -> dict:
    return evaluate_nab(NAB)


def test_detector_finds_most_nab_windows_with_few_false_alarms(nab_result: dict) -> None:
    total = nab_result["total"]
    assert total["windows"] == 16
    assert total["found"] >= 13
    assert total["false_alarms"] <= 11
    assert len(nab_result["series"]) == 5 and all(s["found"] for s in nab_result["series"].values())


def test_sensitivity_trades_misses_for_false_alarms_on_nab() -> None:
    totals = [
        evaluate_nab(NAB, DetectConfig(false_alarms_per_week=SENSITIVITY[name]))["total"]
        for name in ("low", "normal", "high")
    ]
    found, false = [t["found"] for t in totals], [t["false_alarms"] for t in totals]
    assert found == sorted(found) and false == sorted(false)
    assert found[0] < found[2] and false[0] < false[2]


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str], nab_result: dict) -> None:
    assert main(["nab", str(NAB)]) == 0
    out = capsys.readouterr().out
    total = nab_result["total"]
    assert f"{total['found']}/{total['windows']}" in out.splitlines()[-1]


def test_free_tv_outage_is_found_and_the_breach_news_day_is_not(tmp_path: Path) -> None:
    """The whole chain on real posts with the shipped model: import, classify, detect."""
    result = evaluate_free(FREE_POSTS, f"sqlite:///{tmp_path / 'free.db'}")
    assert result["outage_found"] and not result["news_day_flagged"]
    assert FREE_OUTAGE[0] <= pd.Timestamp(result["burst_start"]) <= FREE_OUTAGE[1]
    assert 0 <= result["delay_from_burst_min"] <= 15
    assert result["delay_min"] >= result["delay_from_burst_min"]
    assert len(result["incidents"]) <= 5


def test_day_scores_count_shares_of_reports_and_outage_f1() -> None:
    truth = pd.Series({"a": ["app", "posting"], "b": ["website"], "c": [], "d": ["app"]})
    predicted = pd.Series({"a": ["app"], "b": [], "c": ["other"], "d": ["app", "website"]})
    assert _shares(truth) == pytest.approx({"posting": 1 / 3, "app": 2 / 3, "website": 1 / 3})
    # truth has 3 reports, predictions 3; two of them agree on "is a report" (a, d)
    assert _outage_f1(truth, predicted) == pytest.approx(2 * 2 / (3 + 3))
    result = {
        "outage_f1": {"all": 0.5, "fr": 0.25, "en": 0.75},
        "shares": {"labelled": _shares(truth), "predicted": _shares(predicted)},
        "incident": None,
    }
    text = format_day(result)
    assert "outage F1: 0.500 (fr 0.250, en 0.750)" in text
    assert "largest share error: 33.3 points" in text and "incident over the outage: none" in text
