"""Vega-Lite charts of outage reports over time, as spec dicts for `st.vega_lite_chart`.

Plain specs rather than Altair objects: importing Altair (its whole JSON schema) took a quarter of a second,
a quarter of the dashboard's first render, for charts this simple. Each chart's data are named pandas frames
in the spec's `datasets`, which Streamlit ships to the browser as Arrow, as it did Altair's.

Times are handed to Vega-Lite as naive wall-clock times of the chosen zone: the browser then draws them
as they are, whatever its own zone, and tooltips carry a label with the zone's abbreviation.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from miner.dashboard.summary import INCIDENT_BIN, duration_text
from miner.labels import TYPES

LEVEL_COLORS = {"possible": "#f5a623", "outage": "#d0021b"}
REPORTS_COLOR = "#1f6fb2"
BAND_COLOR = "#9aa5b1"
HEIGHT = 300
SPARKLINE_HEIGHT = 40

Spec = dict[str, Any]


def _in_zone(stamps: pd.Series | pd.Index, tz: str) -> pd.DatetimeIndex:
    """UTC timestamps in zone `tz`."""
    return pd.DatetimeIndex(stamps).tz_convert(tz)


def _wall_clock(stamps: pd.Series | pd.Index, tz: str) -> pd.Series:
    """UTC timestamps as naive times of zone `tz` (what the axis should read)."""
    return pd.Series(_in_zone(stamps, tz).tz_localize(None))


def _labels(stamps: pd.Series | pd.Index, tz: str) -> list[str]:
    return [t.strftime("%Y-%m-%d %H:%M %Z") for t in _in_zone(stamps, tz)]


def _bins(band: pd.DataFrame, step: pd.Timedelta, tz: str) -> pd.DataFrame:
    """Per bin: start and end on the axis, a time label for tooltips, and the band's columns."""
    return band.reset_index(drop=True).assign(
        time=_wall_clock(band.index, tz),
        time_end=_wall_clock(band.index + step, tz),
        when=_labels(band.index, tz),
    )


def _field(name: str, kind: str = "quantitative", **options: Any) -> Spec:
    """An encoding channel reading column `name` (kind: quantitative, temporal or nominal)."""
    return {"field": name, "type": kind, **options}


def _x(step: pd.Timedelta) -> Spec:
    """The time axis; hours are noise on charts of hourly bins (a week or more)."""
    label = "%d %b" if step >= pd.Timedelta(hours=1) else "%d %b %H:%M"
    return _field("time", "temporal", title=None, axis={"format": label, "labelOverlap": True})


def _incidents(incidents: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp, tz: str) -> pd.DataFrame:
    """Incidents overlapping the bins [first, end), clipped to them."""
    ends = incidents["end"] + INCIDENT_BIN
    shown = (ends > first) & (incidents["start"] < end)
    return pd.DataFrame(
        {
            "time": _wall_clock(incidents["start"][shown].clip(lower=first), tz),
            "time_end": _wall_clock(ends[shown].clip(upper=end), tz),
            "level": incidents["level"][shown].to_numpy(),
            "incident": _labels(incidents["start"][shown], tz),
        }
    )


INCIDENT_LAYER: Spec = {
    "data": {"name": "incidents"},
    "mark": {"type": "rect", "opacity": 0.15},
    "encoding": {
        "x": _field("time", "temporal"),
        "x2": {"field": "time_end"},
        "color": _field(
            "level",
            "nominal",
            scale={"domain": list(LEVEL_COLORS), "range": list(LEVEL_COLORS.values())},
            legend={"title": "Incident", "orient": "top"},
        ),
        "tooltip": [_field("incident", "nominal", title="Incident from"), _field("level", "nominal")],
    },
}
"""Incidents as rectangles coloured by level, behind the counts."""
HOVER: Spec = {
    "x2": {"field": "time_end"},
    "y": {"value": 0},
    "y2": {"value": "height"},
    "tooltip": [
        _field("when", "nominal", title="Time"),
        _field("reports", title="Reports"),
        _field("expected", title="Expected", format=".1f"),
        _field("upper", title="Unusual from", format=".0f"),
    ],
}
"""An invisible full-height column per bin: hovering anywhere above a bin shows its figures."""


def volume_chart(band: pd.DataFrame, incidents: pd.DataFrame, step: pd.Timedelta, tz: str) -> Spec:
    """Reports per bin over the usual range (band) and expected level, incidents shaded behind, and a
    column per bin for the tooltip (HOVER)."""
    area = {"type": "area", "interpolate": "step-after"}
    reports = _field("reports", title=f"Outage reports per {duration_text(step)}")
    layers = [
        ({**area, "color": BAND_COLOR, "opacity": 0.25}, {"y": _field("lower"), "y2": {"field": "upper"}}),
        ({**area, "type": "line", "color": BAND_COLOR, "strokeDash": [4, 3]}, {"y": _field("expected")}),
        ({**area, "color": REPORTS_COLOR, "opacity": 0.35, "line": {"color": REPORTS_COLOR}}, {"y": reports}),
        ({"type": "rect", "opacity": 0}, HOVER),
    ]
    return {
        "height": HEIGHT,
        "datasets": {
            "incidents": _incidents(incidents, band.index.min(), band.index.max() + step, tz),
            "bins": _bins(band[["reports", "expected", "lower", "upper"]], step, tz),
        },
        "layer": [
            INCIDENT_LAYER,
            *({"data": {"name": "bins"}, "mark": m, "encoding": {"x": _x(step), **e}} for m, e in layers),
        ],
    }


def types_chart(band: pd.DataFrame, step: pd.Timedelta, tz: str) -> Spec:
    """The same bins stacked by outage type (a report naming two types counts in both)."""
    long = _bins(band, step, tz).melt(
        id_vars=["time", "time_end", "when"], value_vars=list(TYPES), var_name="type", value_name="count"
    )
    title = f"Reports per {duration_text(step)}, by type"
    return {
        "height": HEIGHT,
        "datasets": {"types": long[long["count"] > 0]},
        "data": {"name": "types"},
        "mark": {"type": "bar"},
        "encoding": {
            "x": _x(step),
            "x2": {"field": "time_end"},
            "y": _field("count", aggregate="sum", title=title, stack=True),
            "color": _field("type", "nominal", scale={"domain": list(TYPES)}, legend={"orient": "top"}),
            "tooltip": [
                _field("when", "nominal", title="Time"),
                _field("type", "nominal"),
                _field("count", title="Reports"),
            ],
        },
    }


def sparkline(trend: pd.Series, level: str, tz: str) -> Spec:
    """A service's reports per hour over the last day as small bars, in its state's colour, no axes."""
    data = pd.DataFrame(
        {"time": _wall_clock(trend.index, tz), "when": _labels(trend.index, tz), "reports": trend.to_numpy()}
    )
    return {
        "height": SPARKLINE_HEIGHT,
        "datasets": {"trend": data},
        "data": {"name": "trend"},
        "mark": {"type": "bar", "color": LEVEL_COLORS.get(level, REPORTS_COLOR)},
        "encoding": {
            "x": _field("time", "temporal", axis=None),
            "y": _field("reports", axis=None),
            "tooltip": [_field("when", "nominal", title="Hour from"), _field("reports", title="Reports")],
        },
    }
