"""Every command documents itself with an example (sqlite-utils style)."""

from __future__ import annotations

import subprocess
import sys

import typer.main

from miner.cli import _register_commands, app


def _commands() -> dict[str, object]:
    _register_commands()
    group = typer.main.get_group(app)
    return dict(group.commands)


def test_every_command_has_help_with_an_example() -> None:
    commands = _commands()
    assert "import" in commands
    for name, command in commands.items():
        help_text = getattr(command, "help", "") or ""
        assert help_text.strip(), f"`miner {name}` has no help text"
        assert "Example" in help_text and "miner " in help_text, f"`miner {name}` help has no example"


def test_root_help_lists_commands(run_cli) -> None:
    result = run_cli("--help")
    assert result.code == 0
    assert "import" in result.out


def test_console_script_turns_errors_into_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from miner.cli import main; main()", "import", "no/such/file.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2_without_traceback(run_cli) -> None:
    result = run_cli("import", "x.csv", "--no-such-option")
    assert result.code == 2
    assert "No such option" in result.err and "Traceback" not in result.err
