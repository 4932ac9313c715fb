"""Stream raw records out of JSONL, JSON (X API v2 pages), CSV and Parquet files, gzip allowed.

Readers yield `RawRecord`s one at a time so memory stays flat whatever the file size; a line
that cannot even be decoded is yielded as a record carrying its error, so the caller can
quarantine it and go on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from miner.errors import BadInput, BrokenInput

# csv refuses fields over 128 KiB by default and then cannot resume; let oversized texts
# through the parser so the validator can reject them one by one with a reason.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
PARQUET_BATCH_ROWS = 10_000
FORMATS = ("jsonl", "json", "csv", "parquet")

# What reading a stream that breaks off part-way raises: EOFError (gzip cut short), zlib.error and
# gzip.BadGzipFile (corrupt data; the latter an OSError), OSError (a failing disk, corrupt Parquet pages).
READ_ERRORS = (OSError, EOFError, zlib.error)

ProgressFn = Callable[[int, int], None]
"""`on_progress(done, total)`: bytes (or posts) done so far, and the total when known (else 0)."""
T = TypeVar("T")


@dataclass(slots=True)
class RawRecord:
    """One input row before validation: its position, its fields, or why it is unreadable."""

    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    raw_text: str = ""


def detect_format(path: Path) -> str:
    """The format from the file name, ignoring a trailing .gz."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    if ext == "ndjson":
        return "jsonl"
    if ext not in FORMATS:
        raise BadInput(f"{path}: unknown format {ext or '(no extension)'!r}; use one of {', '.join(FORMATS)}")
    return ext


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, transparently gunzipping; one-line error if unreadable."""
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if not path.is_file():
        raise BadInput(f"{path}: not a regular file")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from exc
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    handle.seek(0)
    return handle


def check_inputs(paths: list[Path]) -> None:
    """Fail fast, before touching the store, when an input is missing or of unknown format."""
    for path in paths:
        if str(path) == "-":
            continue
        if not path.exists():
            raise BadInput(f"{path}: no such file")
        detect_format(path)


def _x_page_records(page: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten an X API v2 response page: each tweet gets its author's username and metrics."""
    users = {u.get("id"): u for u in (page.get("includes") or {}).get("users", []) if isinstance(u, dict)}
    out = []
    for tweet in page.get("data") or []:
        if isinstance(tweet, dict):
            user = users.get(tweet.get("author_id"), {})
            out.append({**tweet, "username": user.get("username", tweet.get("author_id", ""))})
        else:
            out.append({"__error__": "tweet in 'data' is not an object"})
    return out


def _is_x_page(obj: dict[str, Any]) -> bool:
    return "data" in obj and isinstance(obj["data"], list)


def _expand(obj: Any) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and _is_x_page(obj):
        return _x_page_records(obj)
    if isinstance(obj, dict):
        return [obj]
    if isinstance(obj, list):
        return [r for item in obj for r in _expand(item)]
    return [{"__error__": f"expected a JSON object, got {type(obj).__name__}"}]


def _records_from_json_value(line: int, obj: Any, text: str) -> Iterator[RawRecord]:
    for rec in _expand(obj):
        if "__error__" in rec:
            yield RawRecord(line, error=rec["__error__"], raw_text=text)
        else:
            yield RawRecord(line, fields=rec)


def read_jsonl(stream: IO[bytes]) -> Iterator[RawRecord]:
    """One JSON value per line; a line may also be a whole X API v2 page."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RawRecord(
                number, error=f"invalid UTF-8 at byte {exc.start}", raw_text=raw.decode("utf-8", "replace")
            )
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.strip():  # blank lines are skipped
                yield RawRecord(
                    number, error=f"malformed JSON: {exc.msg} (column {exc.colno})", raw_text=text
                )
            continue
        if type(obj) is dict and not _is_x_page(obj) and "__error__" not in obj:
            yield RawRecord(number, obj)  # one post per line: the common case, without the general path
        else:
            yield from _records_from_json_value(number, obj, text)


def read_json(stream: IO[bytes]) -> Iterator[RawRecord]:
    """A whole-file JSON document: an X API v2 page, a list of pages or a list of posts."""
    try:
        obj = json.loads(stream.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"not a valid JSON document ({exc}); use JSONL for one record per line") from exc
    yield from _records_from_json_value(1, obj, "")


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def read_csv(stream: IO[bytes]) -> Iterator[RawRecord]:
    """CSV with a header row; fields holding invalid UTF-8 make that row a reject, not a crash."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.DictReader(text)
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                yield RawRecord(line, error="more fields than the header", raw_text=repr(row)[:2000])
            elif any(isinstance(v, str) and _has_surrogates(v) for v in row.values()):
                yield RawRecord(line, error="invalid UTF-8", raw_text=repr(row)[:2000])
            else:
                yield RawRecord(line, fields={k: v for k, v in row.items() if v is not None})
    finally:
        text.detach()  # the caller owns `stream`: a collected wrapper would close it under them


def read_parquet(path: Path) -> Iterator[RawRecord]:
    """Parquet in record batches, so a large file never sits in memory whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise BadInput(f"{path}: not a readable Parquet file ({exc})") from exc
    line = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                line += 1
                yield RawRecord(line, fields=row)
    except pa.ArrowException as exc:  # a corrupt page: the rows before it stand, as for a cut gzip
        raise OSError(f"corrupt Parquet data ({exc})") from exc


def read_records(path: Path, stream: IO[bytes] | None = None) -> Iterator[RawRecord]:
    """All raw records of one input file, whatever its format; a stream that breaks off raises one of
    READ_ERRORS after the records before the break (InputFile turns that into an early end)."""
    fmt = detect_format(path) if stream is None or path.name != "-" else "jsonl"
    if fmt == "parquet":
        yield from read_parquet(path)
        return
    handle = stream or open_binary(path)
    reader = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv}[fmt]
    try:
        yield from reader(handle)
    finally:
        if stream is None:
            handle.close()


class InputFile:
    """One input as `miner import` and `miner classify` read it: its raw records, how much of the file they
    took (for progress bars), and where it broke off, if it did.

    A read error (gzip cut short or corrupt, a failing disk) ends `records()` early instead of raising, so the
    caller keeps every row before the break; `raise_if_broken` then reports the line it stopped after.
    """

    def __init__(self, path: Path, stream: IO[bytes] | None = None) -> None:
        self.path = path
        self._stream = stream
        self._raw = stream or (open_binary(path) if detect_format(path) != "parquet" else None)
        self.total = path.stat().st_size if stream is None else 0
        self.last_line = 0
        self.broken = ""
        self._records: Iterator[RawRecord] | None = None

    def records(self) -> Iterator[RawRecord]:
        """The raw records, read once."""
        self._records = self._read()
        return self._records

    def _read(self) -> Iterator[RawRecord]:
        try:
            for record in read_records(self.path, self._raw):
                self.last_line = record.line
                yield record
        except READ_ERRORS as exc:
            self.broken = str(exc) or type(exc).__name__

    def bytes_read(self) -> int:
        """Bytes consumed so far of the file on disk (compressed bytes for .gz)."""
        inner = getattr(self._raw, "fileobj", self._raw)
        try:
            return self.total if inner is None else inner.tell()
        except (OSError, ValueError):
            return self.total

    def raise_if_broken(self, kept: str, reject_path: str = "") -> None:
        """BrokenInput when the input broke off, saying after which line, what became of the rows before it
        (`kept`, e.g. "the 12 rows before it were imported") and where the rejected ones went."""
        if self.broken:
            rejects = f" (in {reject_path})" if reject_path else ""
            raise BrokenInput(
                f"{self.path}: cannot read past line {self.last_line:,} ({self.broken}); {kept}{rejects}"
            )

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._records is not None:  # a reader left half-way by an error lets go of the file first
            self._records.close()  # type: ignore[attr-defined]
        if self._raw is not None and self._stream is None:
            self._raw.close()


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items (the last one shorter), as they come."""
    while batch := list(islice(items, size)):
        yield batch
