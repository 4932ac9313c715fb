"""Leave-one-series-out cross-validation of the sensitivity, and the written outage day as a series."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from miner.crossval import (
    DEVDAY_HISTORY_DAYS,
    RATES,
    choose,
    cross_validate,
    devday_posts,
    devday_series,
)
from miner.detect import DetectConfig, detect
from miner.errors import BadInput
from miner.evaluate import nab_series, read_day, score_series
from miner.sensitivity import SENSITIVITY
from tests.realdata import DATA, NAB

DEVDAY = DATA / "devday" / "x-outage-day.jsonl"


@pytest.fixture(scope="module")
def nab_cv():
    return cross_validate(nab_series(NAB))


def test_default_sensitivity_is_chosen_by_cross_validation_and_holds_on_unseen_series(nab_cv) -> None:
    held = nab_cv.held_out()
    assert held["windows"] == 16
    assert held["found"] >= 12 and held["false_alarms"] <= 16
    assert nab_cv.chosen == DetectConfig().false_alarms_per_week == SENSITIVITY["normal"]


def test_each_fold_scores_the_held_out_series_at_the_rate_chosen_without_it(nab_cv) -> None:
    names = [fold.held_out for fold in nab_cv.folds]
    assert len(names) == 5 == len(set(names))
    for fold in nab_cv.folds:
        others = [n for n in names if n != fold.held_out]
        assert fold.rate == choose(nab_cv.scores, others)
        assert fold.test == nab_cv.scores[fold.rate][fold.held_out]
    assert set(nab_cv.scores) == set(RATES)


def score(found: int, false_alarms: int) -> dict:
    return {"windows": 4, "found": found, "false_alarms": false_alarms, "delays_min": []}


def test_choice_weighs_two_false_alarms_as_one_miss_and_prefers_the_lower_rate_on_a_tie() -> None:
    scores = {0.5: {"a": score(2, 0)}, 1.0: {"a": score(3, 2)}, 2.0: {"a": score(4, 5)}}
    assert choose(scores, ["a"]) == 0.5  # 2 - 0 = 3 - 1 > 4 - 2.5
    scores[1.0]["a"] = score(3, 1)
    assert choose(scores, ["a"]) == 1.0


def test_cross_validation_needs_two_series() -> None:
    with pytest.raises(BadInput, match="at least two"):
        cross_validate(nab_series(NAB)[:1])


def test_written_day_follows_four_quiet_weeks_that_replay_its_background() -> None:
    day = read_day(DEVDAY)
    posts = devday_posts(day)
    outage = day["phase"] == "outage"
    assert len(posts) == DEVDAY_HISTORY_DAYS * (~outage).sum() + len(day)
    first = day["created_at"].min()
    assert posts["created_at"].min() == first - pd.Timedelta(days=DEVDAY_HISTORY_DAYS)
    last_day = posts[posts["created_at"] >= first]
    assert last_day["created_at"].tolist() == day["created_at"].sort_values().tolist()
    assert posts["author"].is_unique


def test_written_outage_is_found_at_once_with_posting_and_dms_failing() -> None:
    series = devday_series(DEVDAY)
    day = read_day(DEVDAY)
    reports = day["types"].map(len) > 0
    sporadic = (reports & (day["phase"] != "outage")).sum()
    assert series.counts.sum() == DEVDAY_HISTORY_DAYS * sporadic + reports.sum()
    result = score_series(series, DetectConfig())
    assert (result["found"], result["false_alarms"]) == (1, 0)
    assert result["delays_min"][0] <= 15
    [incident] = [i for i in detect(series.counts, DetectConfig(), series.type_counts)]
    assert {"posting", "dm"} <= set(incident.series)


def test_missing_written_day_is_a_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        read_day(tmp_path / "day.jsonl")
