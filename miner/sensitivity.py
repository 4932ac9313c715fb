"""The detector's one user setting: how many false alarms per service-week an operator accepts.

Kept apart from `miner.detect` (numpy, pandas, SciPy) so the services file and the command line can
check a setting without loading the detector.
"""

from __future__ import annotations

import math

from miner.errors import BadInput

SENSITIVITY: dict[str, float] = {"low": 0.25, "normal": 0.5, "high": 1.0}
"""The named settings, as the false alarms per service-week each accepts: "normal" is the default chosen
by leave-one-series-out cross-validation (`bench/detect_cv.py`); "low" halves the false alarms it
accepts, "high" doubles them."""
SENSITIVITY_HELP = (
    "Detector sensitivity: low, normal (default) or high, or the false alarms per service-week you accept "
    "(e.g. 2). Overrides the services file's per-service setting."
)
MAX_RATE = 7.0  # a false alarm every day is the most a rate can ask: the bar is a quantile of daily peaks


def parse_sensitivity(value: object) -> float:
    """A setting as false alarms per service-week: a name of `SENSITIVITY` or a number in (0, 7]."""
    if isinstance(value, str) and value.strip().lower() in SENSITIVITY:
        return SENSITIVITY[value.strip().lower()]
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if isinstance(value, bool) or not 0 < rate <= MAX_RATE:
        names = ", ".join(SENSITIVITY)
        raise BadInput(f"sensitivity must be {names} or false alarms per week in (0, 7], got {value!r}")
    return rate


def sensitivity_name(rate: float) -> str:
    """How incidents and the dashboard name a setting: its `SENSITIVITY` name, else "1.5/week"."""
    names = [name for name, named in SENSITIVITY.items() if named == rate]
    return names[0] if names else f"{rate:g}/week"
