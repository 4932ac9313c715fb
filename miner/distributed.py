"""Classify JSONL, CSV and Parquet files on a Dask `distributed` cluster, row for row as `classify_file` does.

The client reads each input once and cuts it into partitions, each numbered as in the input so that line
numbers in reject files match the single-process path: whole lines of JSONL (gzip allowed) as raw bytes,
Parquet record batches, or whole records of CSV (gzip allowed) as raw bytes. A CSV file is not cut at byte
offsets, as dask.dataframe.read_csv's `blocksize` does: a quoted field may span lines, and a cut inside one
breaks two rows (with `blocksize=None` it reads a whole file on one worker, in memory). The client runs the
csv module's reader over the lines only to learn where each record ends (~3 µs a record) and ships the raw
lines behind the header's. Workers parse, validate and classify a partition with the same code as
`miner.batch` (the same CSV reader) and write it to OUT_DIR/part-NNNNN.parquet, numbered in input order; they
send their rejects back and the client writes them to `<input>.rejected.jsonl`, in input order too.

Each worker loads the model once: a worker plugin named after the model file's path and content hash loads
it and warms it up (`miner.batch.warm_up`) when registered, or when a worker joins later, and is registered
idempotently, so another run with the same model on a long-lived cluster reuses it. The model never travels
in the task graph: workers read it from its path, which must be reachable from them, like OUT_DIR.

A whole-document JSON file cannot be cut without parsing it whole: it stays with the single-process engine.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import dask
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, Future, LocalCluster, Worker, WorkerPlugin, get_worker

from miner.batch import BatchSummary, Columns, FileClassifier, classify_records, open_writer, warm_up
from miner.errors import BadInput, MinerError, ModelError
from miner.modelfile import model_file
from miner.predict import load_predictor
from miner.sources.files import (
    CSV_FIELD_LIMIT,
    READ_ERRORS,
    ProgressFn,
    RawRecord,
    check_inputs,
    detect_format,
    open_binary,
    read_csv,
    read_jsonl,
)
from miner.sources.rejects import RejectWriter, reject_path_for

# A local cluster when no scheduler is given: one single-threaded worker process per core of a typical
# laptop; processes, because tokenising and n-gram hashing hold the GIL.
LOCAL_WORKERS = 2
# Rows per task: enough to amortise the per-task overhead (a few ms), few enough that a big file gives each
# worker many partitions, so they finish together (with 10,000, 100,000 distinct posts left one worker idle
# ~0.6 s of ~6 at the end), and the data shipped to a worker stays at a few MB.
DEFAULT_PARTITION_ROWS = 5_000
# Partitions submitted ahead per worker thread: one running, one waiting, so workers never wait for the
# client and the client never holds more than that many partitions in memory.
IN_FLIGHT_PER_THREAD = 2
# A scheduler answers in milliseconds: waiting longer only delays the error for a mistyped address.
CONNECT_TIMEOUT_S = 10
# Settings of the local cluster's workers. Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536,
# which also freezes glibc's mmap threshold: each batch's large numpy arrays are then mapped and page-faulted
# afresh, for ~35% more CPU per post (bench/README.md). And each worker samples its task thread's stack every
# 10 ms for Dask's profiler, ~3% of the CPU of a classification, for a dashboard a command line never shows.
# The scheduler and the workers also wake their event loops for housekeeping: a tick every 20 ms (to warn of
# a blocked loop), the system monitor every 0.5 s, the worker's memory monitor every 0.1 s (psutil), the
# cluster's status every 0.5 s. Each wake-up takes the GIL from the task thread: together ~5% of the wall time
# of a classification on 2 workers and 2 cores (bench/README.md); once a second they cost nothing measurable.
# Workers that live for one command need none of this; a cluster given with --scheduler keeps its settings.
LOCAL_WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.deploy.cluster-repr-interval": "1s",
}
PART_NAME = "part-{:05d}.parquet"

RejectEntry = tuple[int, str, dict[str, Any] | str]


class ClusterError(MinerError):
    """The Dask scheduler cannot be reached or has no workers."""


@dataclass(slots=True)
class Summary:
    """What a distributed run did: per-input counts as `classify_file` reports them, and the parts."""

    out_dir: Path
    scheduler: str
    workers: int
    parts: int = 0
    inputs: list[BatchSummary] = field(default_factory=list)


# ---- partitions (built on the client, read on a worker) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonlPart:
    """Whole JSONL lines as raw bytes; `first_line` numbers them as in the input file."""

    first_line: int
    data: bytes

    def records(self) -> Iterator[RawRecord]:
        for rec in read_jsonl(io.BytesIO(self.data)):
            rec.line += self.first_line - 1
            yield rec


@dataclass(frozen=True, slots=True)
class ParquetPart:
    """One Parquet record batch; rows are numbered from 1 across the file, as `read_parquet` does."""

    first_line: int
    batch: pa.RecordBatch

    def records(self) -> Iterator[RawRecord]:
        for line, row in enumerate(self.batch.to_pylist(), start=self.first_line):
            yield RawRecord(line, fields=row)


@dataclass(frozen=True, slots=True)
class CsvPart:
    """Whole CSV records as raw bytes, behind the file's header record; `first_line` is the input's line
    number of the first line of `data`, `header_lines` the lines the header takes."""

    first_line: int
    header: bytes
    header_lines: int
    data: bytes

    def records(self) -> Iterator[RawRecord]:
        for rec in read_csv(io.BytesIO(self.header + self.data)):
            rec.line += self.first_line - 1 - self.header_lines
            yield rec


Partition = JsonlPart | ParquetPart | CsvPart


def _jsonl_parts(path: Path, rows: int) -> Iterator[JsonlPart]:
    """`rows` lines at a time: the client only splits lines, the workers decode and parse them."""
    with open_binary(path) as handle:
        first = 1
        try:
            while lines := list(islice(handle, rows)):
                yield JsonlPart(first, b"".join(lines))
                first += len(lines)
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
            raise BadInput(f"{path}: read failed ({exc})") from exc


def _csv_parts(path: Path, rows: int) -> Iterator[CsvPart]:
    """`rows` records at a time, as raw lines cut where the csv module ends a record (see the module
    docstring); the workers parse them."""
    with open_binary(path) as handle:
        try:
            records = _csv_record_lines(handle)
            header = next(records, ())
            encoded = _raw("".join(header))
            first = len(header) + 1
            while batch := list(islice(records, rows)):
                lines = [line for record in batch for line in record]
                yield CsvPart(first, encoded, len(header), _raw("".join(lines)))
                first += len(lines)
        except READ_ERRORS as exc:  # a truncated or corrupt gzip stream
            raise BadInput(f"{path}: read failed ({exc})") from exc


def _csv_record_lines(handle: IO[bytes]) -> Iterator[tuple[str, ...]]:
    """The lines of each CSV record (header first, blank lines with the record after them), split and
    decoded as `read_csv` reads them, so that its line numbers and rejects come out the same from a part."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="surrogateescape", newline="")
    pulled: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            pulled.append(line)
            yield line

    try:
        for _ in csv.reader(lines()):  # every line ends up in a record: blank ones are empty records
            yield tuple(pulled)
            pulled.clear()
    finally:
        text.detach()  # the caller owns `handle`


def _raw(text: str) -> bytes:
    """Lines back to the input's bytes, invalid UTF-8 included (decoded with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def _parquet_parts(path: Path, rows: int) -> Iterator[ParquetPart]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise BadInput(f"{path}: not a readable Parquet file ({exc})") from exc
    with parquet:
        first = 1
        for batch in parquet.iter_batches(batch_size=rows):
            yield ParquetPart(first, batch)
            first += batch.num_rows


def _partitions(inputs: list[Path], rows: int) -> Iterator[tuple[int, Partition]]:
    """(input index, partition) for every partition of every input, in input order."""
    for index, path in enumerate(inputs):
        for part in PARTITIONERS[detect_format(path)](path, rows):
            yield index, part


PARTITIONERS: dict[str, Callable[[Path, int], Iterator[Partition]]] = {
    "jsonl": _jsonl_parts,
    "csv": _csv_parts,
    "parquet": _parquet_parts,
}


# ---- on the workers ----------------------------------------------------------------------------------------


class ModelPlugin(WorkerPlugin):
    """Loads the model once per worker, off the worker's event loop so heartbeats go on meanwhile."""

    idempotent = True

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.classifier: FileClassifier | None = None

    @classmethod
    def for_model(cls, model_dir: Path | None) -> ModelPlugin:
        """A plugin for the model the client would use, named after its path and content hash, so a
        retrained file at the same path is loaded afresh."""
        file = model_file(model_dir).resolve()
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        return cls(str(file), f"miner-model:{file}:{digest}")

    async def setup(self, worker: Worker) -> None:
        self.classifier = await asyncio.to_thread(_load_warm, self.path)


def _load_warm(path: str) -> FileClassifier:
    """The worker's classifier, warmed up: the predictor and a memo of verdicts kept across its partitions."""
    classifier = FileClassifier(load_predictor(path))
    warm_up(classifier)
    return classifier


class RejectLog:
    """A partition's rejects, kept on the worker and sent back for the client to write in input order."""

    def __init__(self) -> None:
        self.entries: list[RejectEntry] = []

    def write(self, line: int, reason: str, record: dict[str, Any] | str) -> None:
        self.entries.append((line, reason, record))


@dataclass(frozen=True, slots=True)
class PartResult:
    """What a worker did with one partition."""

    read: int
    classified: int
    rejects: list[RejectEntry]


def _worker_classifier(plugin_name: str) -> FileClassifier:
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if not isinstance(plugin, ModelPlugin) or plugin.classifier is None:
        raise ModelError(f"the model failed to load on worker {worker.address}: see its log, then restart it")
    return plugin.classifier


def classify_partition(part: Partition, out_path: Path, cols: Columns, plugin_name: str) -> PartResult:
    """Runs on a worker: classify one partition into its own Parquet file with the worker's model."""
    rejects = RejectLog()
    writer = open_writer(out_path)
    try:
        classifier = _worker_classifier(plugin_name)
        counts = list(classify_records(classifier, part.records(), writer, cols, rejects))
    finally:
        writer.close()
    return PartResult(sum(n for n, _ in counts), sum(n for _, n in counts), rejects.entries)


# ---- on the client -----------------------------------------------------------------------------------------


def local_cluster() -> LocalCluster:
    """The cluster used when no scheduler is given: LOCAL_WORKERS single-threaded processes on loopback."""
    with dask.config.set(LOCAL_WORKER_CONFIG):
        return LocalCluster(
            n_workers=LOCAL_WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's HTTP endpoints on a free port: 8787 may be another cluster's dashboard
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )


@contextmanager
def connect(scheduler: str | None) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a fresh local cluster closed on exit."""
    if scheduler is None:
        with local_cluster() as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, ValueError) as exc:  # timed out, refused, or not an address
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError as exc:
            raise ClusterError(f"the Dask scheduler at {scheduler} has no workers") from exc
        yield client


def check_dask_inputs(inputs: list[Path]) -> None:
    """Fail before connecting when an input is missing or cannot be partitioned on the client."""
    check_inputs(inputs)
    for path in inputs:
        fmt = "stdin" if str(path) == "-" else detect_format(path)
        if fmt not in PARTITIONERS:
            raise BadInput(
                f"{path}: --engine dask reads JSONL, CSV (gzip allowed) and Parquet files, not {fmt}; "
                "use the default engine, or convert it to JSONL"
            )


def prepare_out_dir(out_dir: Path, force: bool) -> None:
    """Create OUT_DIR; refuse a non-empty one unless `force`, which removes the parts of an earlier run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            raise BadInput(f"{out_dir}: folder exists and is not empty; pass --force to replace its parts")
        for old in out_dir.glob("part-*.parquet"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _submitted(
    client: Client, parts: Iterator[tuple[int, Partition]], out_dir: Path, cols: Columns, plugin_name: str
) -> Iterator[tuple[int, Future]]:
    """Scatter and submit each partition as it is read; the data goes to a worker, not into the graph."""
    for number, (index, part) in enumerate(parts):
        data = client.scatter(part, hash=False)
        out_path = out_dir / PART_NAME.format(number)
        yield index, client.submit(classify_partition, data, out_path, cols, plugin_name, pure=False)


def _in_order(client: Client, submitted: Iterator[tuple[int, Future]]) -> Iterator[tuple[int, PartResult]]:
    """Results in input order, keeping at most IN_FLIGHT_PER_THREAD partitions per worker thread queued."""
    limit = IN_FLIGHT_PER_THREAD * max(1, sum(client.nthreads().values()))
    pending: deque[tuple[int, Future]] = deque()
    for item in submitted:
        pending.append(item)
        if len(pending) >= limit:
            index, future = pending.popleft()
            yield index, future.result()
    for index, future in pending:
        yield index, future.result()


def classify_distributed(
    inputs: list[Path],
    out_dir: Path,
    model_dir: Path | None = None,
    scheduler: str | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    cols: Columns | None = None,
    *,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> Summary:
    """Classify `inputs` on the cluster at `scheduler` (a local one when None) into OUT_DIR's part files.

    `on_progress(posts classified, 0)` is called after each partition (the total is unknown while reading).
    """
    check_dask_inputs(inputs)
    plugin = ModelPlugin.for_model(model_dir)
    out_dir = out_dir.absolute()  # workers run in folders of their own
    prepare_out_dir(out_dir, force)
    with connect(scheduler) as client:
        client.register_plugin(plugin)
        summary = Summary(out_dir, client.scheduler.address, len(client.nthreads()))
        partitions = _partitions(inputs, partition_rows)
        submitted = _submitted(client, partitions, out_dir, cols or Columns(), plugin.name)
        _collect(summary, inputs, _in_order(client, submitted), on_progress)
    return summary


def _collect(
    summary: Summary,
    inputs: list[Path],
    results: Iterator[tuple[int, PartResult]],
    on_progress: ProgressFn | None,
) -> None:
    """Count each input's rows and write its rejects to `<input>.rejected.jsonl`, in input order."""
    summary.inputs = [BatchSummary(str(path)) for path in inputs]
    rejects = [RejectWriter(reject_path_for(path)) for path in inputs]
    try:
        for index, result in results:
            _tally(summary.inputs[index], rejects[index], result)
            summary.parts += 1
            if on_progress is not None:
                on_progress(sum(s.classified for s in summary.inputs), 0)
    finally:
        for writer in rejects:
            writer.close()
    for batch, writer in zip(summary.inputs, rejects, strict=True):
        batch.reject_path = str(writer.path) if batch.rejected else ""


def _tally(summary: BatchSummary, rejects: RejectWriter, result: PartResult) -> None:
    for entry in result.rejects:
        rejects.write(*entry)
    summary.read += result.read
    summary.classified += result.classified
    summary.rejected += result.read - result.classified
