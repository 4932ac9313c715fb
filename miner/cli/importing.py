"""`miner import`: load posts from files into the store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from miner.cli import app, file_progress
from miner.sources.files import check_inputs
from miner.sources.records import ColumnMap

if TYPE_CHECKING:  # the store loads SQLAlchemy: only when a command runs
    from miner.ingest import ImportSummary

console = Console(stderr=True)


def _summary_table(summaries: list[ImportSummary]) -> Table:
    table = Table(title="Import summary")
    for col in ("file", "read", "imported", "duplicates", "rejected"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for s in summaries:
        table.add_row(s.path, f"{s.read:,}", f"{s.imported:,}", f"{s.duplicates:,}", f"{s.rejected:,}")
    return table


@app.command("import")
def import_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="JSONL, JSON, CSV or Parquet files (gzip allowed); '-' reads JSONL from stdin."),
    ],
    service: Annotated[
        str, typer.Option(help="Service every post is about (else the file's 'service' column).")
    ] = "",
    source: Annotated[
        str, typer.Option(help="Source name stored with each post: x, bluesky, mastodon, file…")
    ] = "file",
    text_col: Annotated[
        str | None, typer.Option(help="Column holding the post text (default: text, full_text, content…).")
    ] = None,
    time_col: Annotated[
        str | None, typer.Option(help="Column holding the timestamp (default: created_at, date…).")
    ] = None,
    id_col: Annotated[
        str | None, typer.Option(help="Column holding the post id, unique within the source.")
    ] = None,
    author_col: Annotated[
        str | None, typer.Option(help="Column holding the author handle (stored pseudonymised).")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Folder for <input>.rejected.jsonl files (default: beside the input).")
    ] = None,
    db_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: $MINER_DB_URL or sqlite:///data/miner.db).")
    ] = None,
) -> None:
    """Import posts from files into the store, skipping duplicates and quarantining bad rows.

    Example: miner import data/demo/free-fr.csv.gz --service free --source x
    """
    from miner import store
    from miner.ingest import import_file

    check_inputs(paths)
    engine = store.connect(db_url)
    cols = ColumnMap(
        text=text_col, time=time_col, id=id_col, author=author_col, source=source, service=service
    )
    summaries = []
    with file_progress() as progress:
        for path in paths:
            task = progress.add_task(path.name, total=None)

            def advance(done: int, total: int, task: int = task) -> None:
                progress.update(task, completed=done, total=total or None)

            stream = sys.stdin.buffer if str(path) == "-" else None
            summaries.append(
                import_file(engine, path, cols, reject_dir=rejects, on_progress=advance, stream=stream)
            )
    console.print(_summary_table(summaries))
    for s in summaries:
        if s.reject_path:
            console.print(f"{s.rejected:,} rejected rows of {s.path} written to {s.reject_path}")
