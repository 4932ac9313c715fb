"""The `miner` command: parses arguments and prints; the work lives in the package.

Each command group lives in its own module under `miner.cli` and registers itself on `app`.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

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


def file_progress() -> Progress:
    """The progress display of commands that read files: one bar per file, in bytes read, on stderr when it
    is a terminal (in a log or a pipe, a finished bar is noise, and an error stays one line)."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err_console, disable=not err_console.is_terminal)


@app.callback()
def _root() -> None:
    """Notice online-service outages from what users post (French and English)."""


def _register_commands() -> None:
    """Import the command modules so their decorators attach to `app`."""
    from miner.cli import collect, detect, importing, labels, model, watch  # noqa: F401


def main() -> None:
    """Entry point: Typer handles usage errors itself (exit 2); a MinerError becomes one line, exit 2."""
    _register_commands()
    try:
        app()
    except MinerError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
