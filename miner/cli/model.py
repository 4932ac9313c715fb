"""`miner train` and `miner classify`: build a model version, and label posts with one."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from miner.cli import app, file_progress
from miner.errors import BadInput
from miner.labels import CORPUS_DIR, LANGS
from miner.sources.files import check_inputs

if TYPE_CHECKING:  # the modules behind these load spaCy and scikit-learn: only when a command runs
    from miner.batch import BatchSummary, Columns, FileClassifier, RecordWriter

console = Console(stderr=True)


def _train_table(test: dict) -> Table:
    table = Table(title="Test split")
    for col in ("lang", "posts", "outage P", "outage R", "outage F1", "type macro-F1"):
        table.add_column(col, justify="left" if col == "lang" else "right")
    for lang in ("all", *LANGS):
        s, o = test[lang], test[lang]["outage"]
        cells = (o["precision"], o["recall"], o["f1"], s["type_macro_f1"])
        table.add_row(lang, f"{s['posts']:,}", *(f"{v:.3f}" for v in cells))
    return table


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option(help="Folder holding the labelled corpus.jsonl.")] = CORPUS_DIR,
    out: Annotated[
        Path | None, typer.Option(help="Version folder to write (default: models/outage-YYYYMMDD-<hash>).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite the version folder if it exists.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the cross-validation folds.")] = 0,
    default: Annotated[
        bool, typer.Option("--default", help="Also make this version the default model (models/DEFAULT).")
    ] = False,
    with_feedback: Annotated[
        Path | None,
        typer.Option(
            "--with-feedback",
            help="Reviews from `miner labels export` to add to the train split (never to the test split).",
        ),
    ] = None,
) -> None:
    """Train the outage classifier: compare set-ups on grouped cross-validation, fit the best, score it on
    the test split and write model.skops, metrics.json and MODEL_CARD.md into a version folder.

    Example: miner train --data data/labeled --default

    Example: miner labels export feedback.jsonl && miner train --with-feedback feedback.jsonl
    """
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        tasks: list[TaskID] = []

        def on_step(name: str) -> None:
            if tasks:
                progress.update(tasks[-1], total=1, completed=1)
            tasks.append(progress.add_task(name, total=None))

        def on_progress(what: str, done: int, total: int) -> None:
            progress.update(tasks[-1], description=what, completed=done, total=total)

        from miner.train import train

        context = train(
            data, out, force=force, seed=seed, progress=on_progress, on_step=on_step, feedback=with_feedback
        )
        progress.update(tasks[-1], total=1, completed=1)
    console.print(_train_table(context["test_scores"]))
    if with_feedback is not None:
        from miner.feedback import training_summary

        console.print(training_summary(context["sizes"]["feedback"]), highlight=False)
    if default:
        from miner.train import set_default

        console.print(f"default model: {set_default(context['out'])}")
    typer.echo(str(context["out"]))


def _classify_files(inputs: list[Path], output: Path | None, model_dir: Path | None, cols: Columns) -> None:
    """Classify input files into one output, with a progress bar per file and a summary."""
    from miner.batch import FileClassifier, open_writer
    from miner.predict import load_predictor

    check_inputs(inputs)
    classifier = FileClassifier(load_predictor(model_dir))
    writer = open_writer(output)
    summaries: list[BatchSummary] = []
    try:
        with file_progress() as progress:
            for path in inputs:
                task = progress.add_task(path.name, total=None)
                summaries.append(_classify_one(classifier, path, writer, cols, progress, task))
    finally:
        writer.close()
    _print_summaries(summaries)


def _print_summaries(summaries: list[BatchSummary]) -> None:
    for s in summaries:
        line = f"{s.path}: {s.classified:,} classified"
        console.print(
            line + (f", {s.rejected:,} rejected rows written to {s.reject_path}" if s.rejected else "")
        )


def _classify_one(
    classifier: FileClassifier,
    path: Path,
    writer: RecordWriter,
    cols: Columns,
    progress: Progress,
    task: TaskID,
) -> BatchSummary:
    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total or None)

    from miner.batch import classify_file

    stream = sys.stdin.buffer if str(path) == "-" else None
    return classify_file(classifier, path, writer, cols, stream=stream, on_progress=advance)


def _classify_db(model_dir: Path | None, db_url: str | None) -> None:
    """Classify the stored posts the model has no prediction for yet."""
    from miner import store
    from miner.batch import classify_stored, count_unclassified
    from miner.predict import load_predictor

    predictor = load_predictor(model_dir)
    engine = store.connect(db_url)
    with Progress(
        TextColumn("classifying stored posts"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("db", total=count_unclassified(engine, predictor.version))
        done = classify_stored(
            engine, predictor, on_progress=lambda n, total: progress.update(task, completed=n)
        )
    typer.echo(f"classified {done:,} posts with model {predictor.version}")


def _classify_dask(
    inputs: list[Path],
    out_dir: Path,
    model_dir: Path | None,
    cols: Columns,
    scheduler: str | None,
    partition_rows: int | None,
    force: bool,
) -> None:
    """Classify input files on a Dask cluster into a folder of Parquet parts, with a running count on a
    terminal that vanishes when done, so a failure to start stays a one-line error."""
    from miner.distributed import DEFAULT_PARTITION_ROWS, classify_distributed

    count = TextColumn("classifying on Dask: {task.completed:,.0f} posts")
    columns = (SpinnerColumn(), count, TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("dask", total=None)
        summary = classify_distributed(
            inputs, out_dir, model_dir, scheduler, partition_rows or DEFAULT_PARTITION_ROWS, cols,
            force=force, on_progress=lambda done, _: progress.update(task, completed=done),
        )  # fmt: skip
    _print_summaries(summary.inputs)
    console.print(
        f"{summary.parts:,} Parquet parts written by {summary.workers} Dask workers ({summary.scheduler})"
    )
    typer.echo(str(summary.out_dir))


class ClassifyEngine(StrEnum):
    """Where `miner classify` runs its files: in this process, or partitioned on a Dask cluster."""

    single = "single"
    dask = "dask"


def _check_engine_options(engine: ClassifyEngine, db: bool, output: Path | None, dask_options: bool) -> None:
    """Refuse option mixes that would be silently ignored."""
    if engine is ClassifyEngine.single and dask_options:
        raise BadInput("--scheduler, --partition-rows and --force go with --engine dask")
    if engine is ClassifyEngine.dask and (db or output is None):
        raise BadInput("--engine dask writes a folder of Parquet parts: give input files and --output DIR")


@app.command("classify")
def classify_cmd(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="JSONL, CSV or Parquet files (gzip allowed); '-' reads JSONL from stdin."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output .jsonl, .csv or .parquet (default: JSONL on stdout); with --engine dask, a folder.",
        ),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Model version folder (default: $MINER_MODEL_DIR, else models/DEFAULT)."),
    ] = None,
    text_col: Annotated[str, typer.Option(help="Input column holding the post text.")] = "text",
    id_col: Annotated[
        str, typer.Option(help="Input column holding the post id (default: the row number).")
    ] = "id",
    db: Annotated[
        bool,
        typer.Option("--db", help="Classify the stored posts this model version has not classified yet."),
    ] = False,
    db_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL for --db (default: $MINER_DB_URL or sqlite:///data/miner.db)."),
    ] = None,
    engine: Annotated[
        ClassifyEngine,
        typer.Option(
            help="single: this process; dask: JSONL, CSV or Parquet files in partitions on a Dask cluster "
            "(worth it for large inputs of mostly distinct posts)."
        ),
    ] = ClassifyEngine.single,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster of 2 processes)."),
    ] = None,
    partition_rows: Annotated[
        int | None, typer.Option(min=1, help="Input rows per Dask partition (default: 5,000).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="With --engine dask, replace the parts of a non-empty output folder.")
    ] = False,
) -> None:
    """Say which posts are outage reports and of which types: one record per good input row, in order
    (id, lang, is_outage, outage_prob, types, what, where, type_probs); bad rows go to <input>.rejected.jsonl.

    Example: miner classify posts.jsonl.gz --output predictions.parquet

    Example: miner import data/demo/free-fr.csv.gz && miner classify --db

    Example: miner classify big.jsonl.gz --engine dask --scheduler tcp://10.0.0.5:8786 --output predictions/
    """
    if db == bool(inputs):
        raise BadInput("give input files, or --db to classify stored posts (not both)")
    _check_engine_options(engine, db, output, bool(scheduler or partition_rows or force))
    if db:
        _classify_db(model, db_url)
        return
    from miner.batch import Columns

    cols = Columns(text=text_col, id=id_col)
    if engine is ClassifyEngine.dask and output is not None:
        _classify_dask(inputs or [], output, model, cols, scheduler, partition_rows, force)
    else:
        _classify_files(inputs or [], output, model, cols)
