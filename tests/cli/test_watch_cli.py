"""`miner watch` options that are checked before anything heavy is loaded."""

from __future__ import annotations


def test_a_bad_sensitivity_is_a_one_line_error(run_cli) -> None:
    result = run_cli("watch", "--once", "--sensitivity", "8")
    assert result.code == 2
    assert result.err.strip() == (
        "error: sensitivity must be low, normal, high or false alarms per week in (0, 7], got '8'"
    )
