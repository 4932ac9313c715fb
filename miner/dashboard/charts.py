"""Altair charts of outage reports over time.

Times are handed to Vega-Lite as naive wall-clock times of the chosen zone: the browser then draws them
as they are, whatever its own zone, and tooltips carry a label with the zone's abbreviation.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from miner.dashboard.summary import INCIDENT_BIN, duration_text
from miner.labels import TYPES

LEVEL_COLORS = {"possible": "#f5a623", "outage": "#d0021b"}
REPORTS_COLOR = "#1f6fb2"
BAND_COLOR = "#9aa5b1"
HEIGHT = 300
SPARKLINE_HEIGHT = 40


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


def _x(step: pd.Timedelta) -> alt.X:
    """The time axis; hours are noise on charts of hourly bins (a week or more)."""
    label = "%d %b" if step >= pd.Timedelta(hours=1) else "%d %b %H:%M"
    return alt.X("time:T", title=None, axis=alt.Axis(format=label, labelOverlap=True))


def _incident_layer(incidents: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp, tz: str) -> alt.Chart:
    """Incidents overlapping the bins [first, end), clipped to them, as rectangles coloured by level."""
    ends = incidents["end"] + INCIDENT_BIN
    shown = (ends > first) & (incidents["start"] < end)
    data = pd.DataFrame(
        {
            "time": _wall_clock(incidents["start"][shown].clip(lower=first), tz),
            "time_end": _wall_clock(ends[shown].clip(upper=end), tz),
            "level": incidents["level"][shown].to_numpy(),
            "incident": _labels(incidents["start"][shown], tz),
        }
    )
    color = alt.Color(
        "level:N",
        scale=alt.Scale(domain=list(LEVEL_COLORS), range=list(LEVEL_COLORS.values())),
        legend=alt.Legend(title="Incident", orient="top"),
    )
    tooltip = [alt.Tooltip("incident:N", title="Incident from"), "level:N"]
    return (
        alt.Chart(data)
        .mark_rect(opacity=0.15)
        .encode(x="time:T", x2="time_end:T", color=color, tooltip=tooltip)
    )


def volume_chart(band: pd.DataFrame, incidents: pd.DataFrame, step: pd.Timedelta, tz: str) -> alt.LayerChart:
    """Reports per bin over the usual range (band) and expected level, incidents shaded behind.

    An invisible full-height column per bin carries the tooltip, so hovering anywhere above a bin shows it."""
    base = alt.Chart(_bins(band[["reports", "expected", "lower", "upper"]], step, tz)).encode(x=_x(step))
    tooltip = [
        alt.Tooltip("when:N", title="Time"),
        alt.Tooltip("reports:Q", title="Reports"),
        alt.Tooltip("expected:Q", title="Expected", format=".1f"),
        alt.Tooltip("upper:Q", title="Unusual from", format=".0f"),
    ]
    step_area = {"interpolate": "step-after"}
    return alt.layer(
        _incident_layer(incidents, band.index.min(), band.index.max() + step, tz),
        base.mark_area(color=BAND_COLOR, opacity=0.25, **step_area).encode(y="lower:Q", y2="upper:Q"),
        base.mark_line(color=BAND_COLOR, strokeDash=[4, 3], **step_area).encode(y="expected:Q"),
        base.mark_area(color=REPORTS_COLOR, opacity=0.35, line={"color": REPORTS_COLOR}, **step_area).encode(
            y=alt.Y("reports:Q", title=f"Outage reports per {duration_text(step)}")
        ),
        base.mark_rect(opacity=0).encode(
            x2="time_end:T", y=alt.value(0), y2=alt.value("height"), tooltip=tooltip
        ),
    ).properties(height=HEIGHT)


def types_chart(band: pd.DataFrame, step: pd.Timedelta, tz: str) -> alt.Chart:
    """The same bins stacked by outage type (a report naming two types counts in both)."""
    long = _bins(band, step, tz).melt(
        id_vars=["time", "time_end", "when"], value_vars=list(TYPES), var_name="type", value_name="count"
    )
    long = long[long["count"] > 0]
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=_x(step),
            x2="time_end:T",
            y=alt.Y("sum(count):Q", title=f"Reports per {duration_text(step)}, by type", stack=True),
            color=alt.Color("type:N", scale=alt.Scale(domain=list(TYPES)), legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("when:N", title="Time"), "type:N", alt.Tooltip("count:Q", title="Reports")],
        )
        .properties(height=HEIGHT)
    )


def sparkline(trend: pd.Series, level: str, tz: str) -> alt.Chart:
    """A service's reports per hour over the last day as small bars, in its state's colour, no axes."""
    data = pd.DataFrame(
        {"time": _wall_clock(trend.index, tz), "when": _labels(trend.index, tz), "reports": trend.to_numpy()}
    )
    tooltip = [alt.Tooltip("when:N", title="Hour from"), alt.Tooltip("reports:Q", title="Reports")]
    return (
        alt.Chart(data)
        .mark_bar(color=LEVEL_COLORS.get(level, REPORTS_COLOR))
        .encode(x=alt.X("time:T", axis=None), y=alt.Y("reports:Q", axis=None), tooltip=tooltip)
        .properties(height=SPARKLINE_HEIGHT)
    )
