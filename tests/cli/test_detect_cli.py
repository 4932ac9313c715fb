"""`miner detect` on a counts CSV and on the store."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from miner import store
from tests.realdata import NAB
from tests.test_incidents import _fill


def test_counts_csv_to_jsonl(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "fb.jsonl"
    result = run_cli("detect", "--counts", str(NAB / "Twitter_volume_FB.csv"), "--output", str(out))
    assert result.code == 0, result.err
    incidents = [json.loads(line) for line in out.read_text().splitlines()]
    assert incidents and f"{len(incidents)} incidents" in result.err
    first = incidents[0]
    assert {"start", "detected_at", "peak", "end", "peak_count", "expected_at_peak", "level"} <= set(first)
    assert first["start"] <= first["detected_at"] <= first["end"] and first["start"].endswith("+00:00")


def test_sensitivity_trades_misses_for_false_alarms(run_cli, tmp_path: Path) -> None:
    found = {}
    for setting in ("low", "high", "3"):
        out = tmp_path / f"{setting}.jsonl"
        result = run_cli(
            "detect",
            "--counts",
            str(NAB / "Twitter_volume_AAPL.csv"),
            "--sensitivity",
            setting,
            "--output",
            str(out),
        )
        assert result.code == 0, result.err
        found[setting] = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(found["low"]) < len(found["high"]) < len(found["3"])
    assert {i["sensitivity"] for i in found["high"]} == {"high"} and found["3"][0]["sensitivity"] == "3/week"


def test_coarser_bins_change_the_series(run_cli, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    rows = [
        f"2024-01-{1 + i // 288:02d} {i % 288 // 12:02d}:{i % 12 * 5:02d}:00,{3 + (i % 7 == 0)}"
        for i in range(288 * 10)
    ]
    csv.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    for freq in ("5min", "1h"):
        result = run_cli("detect", "--counts", str(csv), "--freq", freq)
        assert result.code == 0 and result.out == "", result.err


def test_db_mode_stores_incidents_once(run_cli, engine, db_url: str, tmp_path: Path) -> None:
    _fill(engine)
    services = tmp_path / "services.toml"
    services.write_text(
        '[outage_words]\nfr = ["panne"]\nen = ["down"]\n\n'
        '[[services]]\nname = "free"\ndisplay = "Free"\naliases = ["freebox"]\n'
        'official_accounts = ["Freebox"]\n'
        'hashtags = []\nterms.fr = ["free"]\nterms.en = ["free"]\n'
    )
    for _ in range(2):
        result = run_cli(
            "detect", "--db", "--service", "freebox", "--services", str(services), "--db-url", db_url
        )
        assert result.code == 0, result.err
        assert "free: 1 incident (" in result.err  # one incident, in the singular
        assert "sensitivity normal" in result.err
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.incidents)).scalar() == 1


def test_usage_errors_are_one_line(run_cli, tmp_path: Path) -> None:
    assert run_cli("detect").err.strip() == "error: give exactly one of --counts FILE or --db"
    result = run_cli("detect", "--counts", str(tmp_path / "none.csv"))
    assert result.code == 2 and "no such file" in result.err
    result = run_cli("detect", "--counts", str(tmp_path / "none.csv"), "--freq", "soon")
    assert result.code == 2 and "--freq must be a duration" in result.err
    result = run_cli("detect", "--counts", str(NAB / "Twitter_volume_FB.csv"), "--sensitivity", "loud")
    assert result.code == 2 and result.err.startswith("error: sensitivity must be low, normal, high or")
    assert len(result.err.strip().splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("when,count\n2024-01-01,3\n")
    result = run_cli("detect", "--counts", str(bad))
    assert result.code == 2 and "timestamp,value" in result.err
