"""Chart specs: layers, wall-clock times of the chosen zone, incidents drawn only where shown."""

from __future__ import annotations

import pandas as pd

from miner.dashboard.charts import types_chart, volume_chart
from miner.labels import TYPES

STEP = pd.Timedelta("5min")
BINS = pd.date_range("2024-06-10 10:00", periods=4, freq=STEP, tz="UTC")


def band() -> pd.DataFrame:
    frame = pd.DataFrame({"reports": [1, 0, 7, 2], **{t: 0 for t in TYPES}}, index=BINS)
    return frame.assign(app=[1, 0, 5, 2], login=[0, 0, 3, 0], expected=1.0, lower=0.0, upper=5.0)


def incidents(*starts: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": pd.to_datetime(list(starts), utc=True),
            "end": pd.to_datetime(list(starts), utc=True) + STEP,
            "level": "outage",
        }
    )


def rows(frame: pd.DataFrame) -> list[dict]:
    """A dataset's rows as the browser reads them (times in ISO form)."""
    return [
        {k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def test_volume_chart_layers_and_local_times() -> None:
    shown = incidents("2024-06-10 10:10", "2024-06-01 00:00", "2024-06-12 00:00", "2024-06-10 09:55")
    spec = volume_chart(band(), shown, STEP, "Europe/Paris")
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "area", "line", "area", "rect"]
    assert [layer["data"]["name"] for layer in spec["layer"]] == ["incidents"] + ["bins"] * 4
    bins, shaded = rows(spec["datasets"]["bins"]), rows(spec["datasets"]["incidents"])
    assert bins[0]["time"] == "2024-06-10T12:00:00"  # Paris wall clock, no zone: drawn as is
    assert bins[0]["when"] == "2024-06-10 12:00 CEST"
    # Incidents before or after the bins are left out; one overlapping the first bin is clipped to it.
    assert [(row["time"], row["time_end"]) for row in shaded] == [
        ("2024-06-10T12:10:00", "2024-06-10T12:20:00"),  # its end bin is the last one shown
        ("2024-06-10T12:00:00", "2024-06-10T12:05:00"),
    ]
    assert spec["layer"][-1]["encoding"]["tooltip"][1]["field"] == "reports"


def test_volume_chart_without_incidents() -> None:
    empty = incidents()
    spec = volume_chart(band(), empty, STEP, "UTC")
    assert len(spec["layer"]) == 5 and spec["datasets"]["incidents"].empty


def test_types_chart_stacks_reported_types_only() -> None:
    spec = types_chart(band(), STEP, "UTC")
    stacked = rows(spec["datasets"][spec["data"]["name"]])
    assert sorted({r["type"] for r in stacked}) == ["app", "login"]
    assert sum(r["count"] for r in stacked) == 11
    assert spec["encoding"]["y"] | {"title": ""} == {
        "field": "count",
        "type": "quantitative",
        "aggregate": "sum",
        "stack": True,
        "title": "",
    }
