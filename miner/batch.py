"""Classify posts in bulk: from files (JSONL, CSV, Parquet, stdin) to a file, or stored posts to the store.

Files stream through in batches of BATCH_ROWS rows, so memory stays flat whatever their size; a bad row is
quarantined in `<input>.rejected.jsonl` with its reason and the rest go on. `classify_stored` is what the
CLI, the live watch loop and the dashboard call to give every stored post a prediction of the current model.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from miner.errors import BadInput
from miner.labels import TYPES, split_kinds
from miner.sources.files import InputFile, ProgressFn, RawRecord, batched
from miner.sources.records import Rejected, validate_text
from miner.sources.rejects import RejectSink, RejectWriter, reject_path_for

if TYPE_CHECKING:  # pyarrow and SQLAlchemy load only for Parquet output and the store (CLI start-up time)
    import pyarrow as pa
    from sqlalchemy import Engine

    from miner.predict import Predictions, Predictor

# Rows per model call: enough to amortise the per-batch numpy and spaCy overhead (throughput is flat
# beyond ~1,000), small enough that a batch's text, features and output stay a few MB.
BATCH_ROWS = 2_000
# Probabilities in files are rounded: four decimals is finer than the model's calibration.
PROB_DECIMALS = 4
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
# `types` holds both kinds; `what` and `where` repeat them split by kind (see miner.labels.KINDS).
OUTPUT_FIELDS = ("id", "lang", "is_outage", "outage_prob", "types", "what", "where", "type_probs")
NESTED_FIELDS = ("types", "what", "where", "type_probs")
PROB_COLUMNS = tuple(f"p_{t}" for t in TYPES)  # of the predictions table
TYPE_COLUMNS = tuple(f"t_{t}" for t in TYPES)
# Distinct texts whose output is remembered (retweets and reposts repeat a text word for word): each takes
# ~0.5 KB, so the memo stays under ~25 MB; when full it is emptied and fills again.
TEXT_MEMO_SIZE = 50_000
# One post per language that takes the whole path through what it builds on first use: the pipelines and lemma
# tables, token_match's quick twins and long classes (compiled for a hyphenated French word, ~0.1 s), links,
# handles, times (see `warm_up`).
WARM_UP_TEXTS = (
    "la box ne marche plus, c'est-à-dire plus de télé chez ma grand-mère depuis 10h30 https://free.fr/assistance",
    "is spotify down? my playlists won't load :( @SpotifyCares https://status.spotify.com",
)


@dataclass(slots=True)
class BatchSummary:
    """What happened to one input."""

    path: str
    read: int = 0
    classified: int = 0
    rejected: int = 0
    reject_path: str = ""


# ---- output ------------------------------------------------------------------------------------------------


class Verdict(NamedTuple):
    """What a file gets for one text: the output record's fields after `id`, and their JSON text."""

    lang: str
    is_outage: bool
    outage_prob: float
    types: tuple[str, ...]
    type_probs: tuple[float, ...]  # in TYPES order
    json: str  # '"lang": ..., "type_probs": {...}}': the JSON line after '{"id": ID, '

    def fields(self, post_id: str) -> dict[str, Any]:
        """The whole output record of a post with this verdict."""
        types = list(self.types)
        return {
            "id": post_id,
            "lang": self.lang,
            "is_outage": self.is_outage,
            "outage_prob": self.outage_prob,
            "types": types,
            **split_kinds(types),
            "type_probs": dict(zip(TYPES, self.type_probs, strict=True)),
        }


def verdicts(found: Predictions) -> list[Verdict]:
    """One Verdict per predicted post, probabilities rounded to PROB_DECIMALS."""
    probs = np.round(found.probs, PROB_DECIMALS).tolist()
    out = []
    for lang, row_probs, row_flags in zip(found.langs, probs, found.decisions.tolist(), strict=True):
        types, types_json = _types(tuple(row_flags[1:]))
        type_probs = ", ".join(
            f"{key}{value!r}" for key, value in zip(_TYPE_KEYS, row_probs[1:], strict=True)
        )
        text = (
            f'"lang": {_json(lang)}, "is_outage": {_json(row_flags[0])}, "outage_prob": {row_probs[0]!r}, '
            f'{types_json}, "type_probs": {{{type_probs}}}}}'
        )
        out.append(Verdict(lang, row_flags[0], row_probs[0], types, tuple(row_probs[1:]), text))
    return out


# The JSON of a verdict is assembled from pieces json.dumps wrote (floats are their repr, as json.dumps
# writes them): tests/test_batch.py holds whole lines to json.dumps of the record.
_TYPE_KEYS = [f"{json.dumps(t)}: " for t in TYPES]


@lru_cache(maxsize=64)
def _json(value: str | bool) -> str:
    """json.dumps of a language or a flag (a handful of values)."""
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=2 ** len(TYPES))
def _kinds(types: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """A post's types of each kind: (what, where)."""
    split = split_kinds(types)
    return split["what"], split["where"]


@lru_cache(maxsize=2 ** len(TYPES))
def _types(flags: tuple[bool, ...]) -> tuple[tuple[str, ...], str]:
    """The types of a post's type decisions, and the JSON of its types, what and where fields."""
    types = [t for t, flag in zip(TYPES, flags, strict=True) if flag]
    return tuple(types), json.dumps({"types": types, **split_kinds(types)}, ensure_ascii=False)[1:-1]


class FileClassifier:
    """A predictor and a memo of the verdict of each distinct text it has seen: each text goes through the
    model once, and its output is built once. The memo is emptied when a batch would take it past
    TEXT_MEMO_SIZE texts."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.memo: dict[str, Verdict] = {}

    def __call__(self, texts: Sequence[str]) -> list[Verdict]:
        memo = self.memo
        unseen = [text for text in dict.fromkeys(texts) if text not in memo]
        if len(memo) + len(unseen) > TEXT_MEMO_SIZE:
            memo.clear()
            unseen = list(dict.fromkeys(texts))
        if unseen:
            memo.update(zip(unseen, verdicts(self.predictor.predict(unseen)), strict=True))
        return [memo[text] for text in texts]


def warm_up(classifier: FileClassifier) -> None:
    """Classify WARM_UP_TEXTS into a Parquet file in memory. A long-lived process (a Dask worker) pays there,
    before its first task, the ~0.3 s that its first batch would: patterns compiled on first use, lemma
    tables, Parquet's modules, and pandas, which pyarrow imports at its first array from Python lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    found = classifier(WARM_UP_TEXTS)
    pq.write_table(parquet_table([f"warm-up-{i}" for i in range(len(found))], found), pa.BufferOutputStream())


class RecordWriter(Protocol):
    def write(self, ids: list[str], found: list[Verdict]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One JSON object per line."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, ids: list[str], found: list[Verdict]) -> None:
        lines = (
            f'{{"id": {json.dumps(i, ensure_ascii=False)}, {v.json}\n'
            for i, v in zip(ids, found, strict=True)
        )
        self.handle.write("".join(lines))

    def close(self) -> None:
        self.handle.flush()
        if self.handle is not sys.stdout:
            self.handle.close()


class CsvWriter:
    """A header row, then one row per record; the list and dict fields are JSON text."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.writer = csv.DictWriter(handle, fieldnames=OUTPUT_FIELDS)
        self.writer.writeheader()

    def write(self, ids: list[str], found: list[Verdict]) -> None:
        records = (v.fields(i) for i, v in zip(ids, found, strict=True))
        self.writer.writerows(
            {**r, **{k: json.dumps(r[k], ensure_ascii=False) for k in NESTED_FIELDS}} for r in records
        )

    def close(self) -> None:
        self.handle.close()


@lru_cache(maxsize=1)
def parquet_schema() -> pa.Schema:
    """The output columns as Parquet types."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("lang", pa.string()),
            ("is_outage", pa.bool_()),
            ("outage_prob", pa.float64()),
            ("types", pa.list_(pa.string())),
            ("what", pa.list_(pa.string())),
            ("where", pa.list_(pa.string())),
            ("type_probs", pa.struct([(t, pa.float64()) for t in TYPES])),
        ]
    )


def parquet_table(ids: list[str], found: list[Verdict]) -> pa.Table:
    """Records as a table of the output columns, column by column: building a dict per row for pyarrow cost
    ~25 µs a row, columns ~2."""
    import pyarrow as pa

    schema = parquet_schema()
    kinds = [_kinds(v.types) for v in found]
    probs = np.array([v.type_probs for v in found], dtype=np.float64).reshape(len(found), len(TYPES))
    columns = [
        ids,
        [v.lang for v in found],
        [v.is_outage for v in found],
        [v.outage_prob for v in found],
        [v.types for v in found],
        [what for what, _ in kinds],
        [where for _, where in kinds],
    ]
    arrays = [pa.array(values, type=schema.field(i).type) for i, values in enumerate(columns)]
    type_probs = list(schema.field("type_probs").type)
    arrays.append(pa.StructArray.from_arrays([probs[:, j] for j in range(len(TYPES))], fields=type_probs))
    return pa.Table.from_arrays(arrays, schema=schema)


class ParquetWriter:
    """One row group per batch, so the file is written as it goes."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.writer = pq.ParquetWriter(path, parquet_schema())

    def write(self, ids: list[str], found: list[Verdict]) -> None:
        self.writer.write_table(parquet_table(ids, found))

    def close(self) -> None:
        self.writer.close()


def open_writer(output: Path | None) -> RecordWriter:
    """A writer for the output's extension (.jsonl, .csv, .parquet); JSONL on stdout for None or '-'."""
    if output is None or str(output) == "-":
        return JsonlWriter(sys.stdout)
    fmt = output.suffix.lower().lstrip(".")
    fmt = "jsonl" if fmt == "ndjson" else fmt
    if fmt not in OUTPUT_FORMATS:
        raise BadInput(
            f"{output}: unknown output format {fmt or '(no extension)'!r}; use .jsonl, .csv or .parquet"
        )
    try:
        if fmt == "parquet":
            return ParquetWriter(output)
        handle = output.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise BadInput(f"{output}: cannot write ({exc.strerror or exc})") from exc
    return CsvWriter(handle) if fmt == "csv" else JsonlWriter(handle)


# ---- files -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Columns:
    """Which input columns hold the text and the id."""

    text: str = "text"
    id: str = "id"


def _row_id(fields: dict[str, Any], column: str, line: int) -> str:
    """The row's id as text; the row number when the input has none."""
    value = fields.get(column)
    if type(value) is str and value:
        return value
    if value in (None, ""):
        return str(line)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Rejected(f"id must be a string or integer, got {type(value).__name__}")
    return str(value)


def _checked(
    records: Iterator[RawRecord], cols: Columns, rejects: RejectSink
) -> Iterator[tuple[str, str] | None]:
    """(id, text) for good rows, None (after quarantining) for bad ones, in input order."""
    for rec in records:
        if rec.error:
            rejects.write(rec.line, rec.error, rec.raw_text)
            yield None
            continue
        try:
            yield _row_id(rec.fields, cols.id, rec.line), validate_text(rec.fields.get(cols.text))
        except Rejected as exc:
            rejects.write(rec.line, str(exc), rec.fields)
            yield None


def classify_records(
    classifier: FileClassifier,
    records: Iterator[RawRecord],
    writer: RecordWriter,
    cols: Columns,
    rejects: RejectSink,
) -> Iterator[tuple[int, int]]:
    """Classify good records batch by batch into `writer` and quarantine bad ones; yields (read,
    classified) per batch. Shared by `classify_file` and the Dask workers, so both apply the same rules."""
    for batch in batched(_checked(records, cols, rejects), BATCH_ROWS):
        good = [row for row in batch if row is not None]
        if good:
            ids, texts = zip(*good, strict=True)
            writer.write(list(ids), classifier(texts))
        yield len(batch), len(good)


def classify_file(
    classifier: FileClassifier,
    path: Path,
    writer: RecordWriter,
    cols: Columns = Columns(),
    *,
    reject_dir: Path | None = None,
    stream: IO[bytes] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Classify every good row of one input (or `stream` for '-') and hand the records to `writer`; the rows
    before a break in the file (a cut gzip) are written before BrokenInput reports it."""
    summary = BatchSummary(str(path))
    rejects = RejectWriter(reject_path_for(path, reject_dir))
    with InputFile(path, stream) as source, closing(rejects):
        for read, classified in classify_records(classifier, source.records(), writer, cols, rejects):
            summary.read += read
            summary.classified += classified
            summary.rejected += read - classified
            if on_progress is not None:
                on_progress(source.bytes_read(), source.total)
    summary.reject_path = str(rejects.path) if summary.rejected else ""
    source.raise_if_broken(
        f"the {summary.read:,} rows before it were read: {summary.classified:,} classified, "
        f"{summary.rejected:,} rejected",
        summary.reject_path,
    )
    return summary


# ---- the store ---------------------------------------------------------------------------------------------


def _unclassified(version: str) -> Any:
    """Stored posts the model `version` has no prediction for: posts LEFT JOIN predictions IS NULL."""
    from sqlalchemy import and_

    from miner import store

    posts, preds = store.posts, store.predictions
    joined = posts.outerjoin(
        preds,
        and_(
            preds.c.source == posts.c.source, preds.c.post_id == posts.c.id, preds.c.model_version == version
        ),
    )
    return joined, preds.c.post_id.is_(None)


def count_unclassified(engine: Engine, version: str) -> int:
    """How many stored posts still lack a prediction of this model version."""
    from sqlalchemy import func, select

    joined, missing = _unclassified(version)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(joined).where(missing)).scalar_one()


def _stored_predictions(rows: list[Any], found: Predictions, version: str) -> list[dict[str, Any]]:
    """The predictions table's rows for stored posts (rows of their source, id, text, service, created_at and
    lang), probabilities unrounded."""
    from miner import store

    now = datetime.now(UTC)
    out = []
    for row, lang, probs, flags in zip(
        rows, found.langs, found.probs.tolist(), found.decisions.tolist(), strict=True
    ):
        output = {"lang": lang, "is_outage": flags[0], "outage_prob": probs[0]}
        output.update(zip(PROB_COLUMNS, probs[1:], strict=True))
        output.update(zip(TYPE_COLUMNS, flags[1:], strict=True))
        out.append(store.prediction_row(row, output, version, now))
    return out


def classify_stored(
    engine: Engine, predictor: Predictor, batch_size: int = BATCH_ROWS, on_progress: ProgressFn | None = None
) -> int:
    """Predict every stored post this model version has not classified yet; returns how many it did.

    Each batch is read and written in one transaction, so an interrupted run loses at most one batch and
    the next run resumes where it stopped.
    """
    from sqlalchemy import select

    from miner import store

    joined, missing = _unclassified(predictor.version)
    p = store.posts
    query = select(p.c.source, p.c.id, p.c.text, p.c.service, p.c.created_at, p.c.lang)
    query = query.select_from(joined).where(missing)
    total = count_unclassified(engine, predictor.version) if on_progress is not None else 0
    done = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(query.limit(batch_size)).all()
            if not rows:
                return done
            new = _stored_predictions(rows, predictor.predict([r.text for r in rows]), predictor.version)
            # Another classifier may have written some of these meanwhile: theirs stand, ours are dropped.
            done += store.insert_new(conn, store.predictions, new, ("source", "post_id", "model_version"))
        if on_progress is not None:
            on_progress(done, total)
