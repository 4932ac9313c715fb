"""The `miner` command: parses arguments and prints; the work lives in the package.

Each command group lives in its own module under `miner.cli` and registers itself on `app`.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from miner.errors import MinerError

app = typer.Typer(
    name="miner",
    help="Notice online-service outages from what users post (French and English).\n\n"
    "Example: miner import data/demo/free-fr.csv.gz && miner classify --db && miner detect --db",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Notice online-service outages from what users post (French and English)."""


def _register_commands() -> None:
    """Import the command modules so their decorators attach to `app`."""
    from miner.cli import importing  # noqa: F401


def main() -> None:
    """Entry point: run the app, turning MinerError into a one-line message and exit code 2."""
    _register_commands()
    try:
        app(standalone_mode=False)
    except MinerError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
