"""`miner classify --engine dask` on a real local cluster: the rows and rejects of one process, the model
loaded once per worker, and one-line refusals."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import dask
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from miner import distributed as distributed_module
from miner.batch import Columns, FileClassifier, ParquetWriter, classify_file
from miner.cli import main
from miner.distributed import classify_distributed, local_cluster
from miner.modelfile import model_file
from miner.predict import Predictor, load_predictor
from tests.test_batch import BAD_LINES

CORPUS = Path(__file__).resolve().parents[1] / "data" / "labeled" / "corpus.jsonl"
POSTS = 4_000  # past the corpus's 3,599 texts, so some texts repeat under other ids
PARTITION_ROWS = 900  # five partitions for two workers
_LOADS: Counter[str] = Counter()  # per process: each worker counts its own model loads


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """The cluster `miner classify --engine dask` starts: 2 single-threaded worker processes on 127.0.0.1."""
    with local_cluster() as local:
        yield local


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return load_predictor()


def _texts() -> Iterator[str]:
    return cycle(json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real texts under unique ids, gzipped, with bad rows and a blank line spread over the partitions."""
    lines = [
        json.dumps({"id": f"p{i}", "text": text}, ensure_ascii=False).encode()
        for i, text in enumerate(islice(_texts(), POSTS))
    ]
    for position, bad in zip(range(10, POSTS, POSTS // len(BAD_LINES)), BAD_LINES, strict=False):
        lines.insert(position, bad)
    lines.insert(PARTITION_ROWS - 1, b"")
    path = tmp_path_factory.mktemp("posts") / "posts.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    return path


def _single_process(
    predictor: Predictor, path: Path, folder: Path, cols: Columns | None = None
) -> tuple[list[dict], str]:
    """Rows and reject file of the single-process `classify_file` on the same input."""
    folder.mkdir()
    writer = ParquetWriter(folder / "out.parquet")
    try:
        classify_file(FileClassifier(predictor), path, writer, cols or Columns(), reject_dir=folder)
    finally:
        writer.close()
    rejects = folder / f"{path.name}.rejected.jsonl"
    return pq.read_table(folder / "out.parquet").to_pylist(), rejects.read_text() if rejects.exists() else ""


def _parts(out_dir: Path) -> list[dict[str, Any]]:
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == [f"part-{i:05d}.parquet" for i in range(len(names))]
    return [row for name in names for row in pq.read_table(out_dir / name).to_pylist()]


def test_the_local_cluster_has_two_single_threaded_worker_processes(cluster: LocalCluster) -> None:
    with Client(cluster) as client:
        assert list(client.nthreads().values()) == [1, 1]
        assert all(address.startswith("tcp://127.0.0.1:") for address in client.nthreads())


# The worker settings of LOCAL_WORKER_CONFIG (the nanny's are read before a worker starts)
WORKER_SETTINGS = {
    key: value
    for key, value in distributed_module.LOCAL_WORKER_CONFIG.items()
    if not key.startswith("distributed.nanny")
}


def _worker_settings() -> dict[str, Any]:
    return {
        "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        **{key: dask.config.get(key) for key in WORKER_SETTINGS},
    }


def test_local_workers_run_with_the_quiet_settings(cluster: LocalCluster) -> None:
    """The settings that keep housekeeping off the task thread reach the worker processes themselves, and
    glibc keeps its own malloc thresholds there."""
    with Client(cluster) as client:
        settings = list(client.run(_worker_settings).values())
    assert settings == [{"MALLOC_TRIM_THRESHOLD_": None, **WORKER_SETTINGS}] * 2


def test_rows_and_rejects_match_the_single_process_path(
    cluster: LocalCluster, predictor: Predictor, posts_file: Path, tmp_path: Path
) -> None:
    summary = classify_distributed(
        [posts_file], tmp_path / "out", scheduler=cluster.scheduler_address, partition_rows=PARTITION_ROWS
    )
    expected_rows, expected_rejects = _single_process(predictor, posts_file, tmp_path / "single")
    rows = _parts(tmp_path / "out")
    assert summary.parts == 5 and summary.workers == 2
    assert len(rows) == POSTS and rows == expected_rows
    assert [r["id"] for r in rows] == [f"p{i}" for i in range(POSTS)]
    (result,) = summary.inputs
    assert (result.classified, result.rejected) == (POSTS, len(BAD_LINES))
    assert Path(result.reject_path).read_text() == expected_rejects


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept(cluster: LocalCluster, tmp_path: Path) -> None:
    good = [json.dumps({"id": f"good{i}", "text": "plus d'internet ce matin"}).encode() for i in (1, 2)]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join([good[0], *BAD_LINES, good[1]]) + b"\n")
    summary = classify_distributed(
        [path], tmp_path / "out", scheduler=cluster.scheduler_address, partition_rows=3
    )
    assert [r["id"] for r in _parts(tmp_path / "out")] == ["good1", "good2"]
    rejects = [json.loads(line) for line in Path(summary.inputs[0].reject_path).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4, 5, 6, 7]
    reasons = ["malformed JSON", "missing text", "text must be a string, got int", "text too long",
               "invalid UTF-8", "id must be a string or integer, got dict"]  # fmt: skip
    for reject, reason in zip(rejects, reasons, strict=True):
        assert reject["reason"].startswith(reason)


def test_parquet_rows_are_numbered_across_partitions(
    cluster: LocalCluster, predictor: Predictor, tmp_path: Path
) -> None:
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"body": list(islice(_texts(), 500))}), path, row_group_size=200)
    summary = classify_distributed(
        [path], tmp_path / "out", scheduler=cluster.scheduler_address, partition_rows=150,
        cols=Columns(text="body"),
    )  # fmt: skip
    rows = _parts(tmp_path / "out")
    assert [r["id"] for r in rows] == [str(line) for line in range(1, 501)]  # no id column: the row number
    assert summary.parts >= 4
    expected, _ = _single_process(predictor, path, tmp_path / "single", Columns(text="body"))
    assert rows == expected


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_rows_and_rejects_match_the_single_process_path(
    cluster: LocalCluster, predictor: Predictor, tmp_path: Path, newline: str
) -> None:
    # Quoted fields spanning lines, rows without an id (their line number stands in), blank lines, and
    # unreadable rows, spread over partitions, with each kind of line break: the same rows, ids and rejects as
    # one process.
    texts = list(islice(_texts(), 600))
    lines = ['"author\nname",body']  # a header over two lines
    for i, text in enumerate(texts):
        body = text.replace('"', '""') + (f"{newline}suite sur une autre ligne" if i % 7 == 0 else "")
        lines.append(f'a{i},"{body}"')
    lines[100] = "a100"  # no text
    lines[200] = 'a200,"x",too many fields'
    lines[250] = ""
    raw = (newline.join(lines) + newline).encode()
    raw = raw.replace(b"a300,", b"a300,\xff", 1)  # invalid UTF-8
    path = tmp_path / "posts.csv.gz"
    path.write_bytes(gzip.compress(raw))
    summary = classify_distributed(
        [path], tmp_path / "out", scheduler=cluster.scheduler_address, partition_rows=130,
        cols=Columns(text="body"),
    )  # fmt: skip
    expected, expected_rejects = _single_process(predictor, path, tmp_path / "single", Columns(text="body"))
    assert summary.parts == 5 and summary.inputs[0].rejected == 3
    assert _parts(tmp_path / "out") == expected and len(expected) == len(texts) - 4
    assert Path(summary.inputs[0].reject_path).read_text() == expected_rejects


def _count_model_loads() -> None:
    """Runs on each worker: count every model the worker loads from now on (from its file or the cache)."""
    real_load = distributed_module.load_predictor

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        _LOADS["model"] += 1
        return real_load(*args, **kwargs)

    distributed_module.load_predictor = counting_load


def _model_loads() -> int:
    return _LOADS["model"]


def test_each_worker_loads_the_model_once(cluster: LocalCluster, posts_file: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"  # a copy: a model path no earlier test registered on the cluster
    shutil.copytree(model_file().parent, model_dir)
    with Client(cluster) as client:
        client.run(_count_model_loads)
        for run in range(2):
            summary = classify_distributed(
                [posts_file], tmp_path / f"out{run}", model_dir, cluster.scheduler_address, PARTITION_ROWS
            )
            assert summary.parts == 5
        assert sorted(client.run(_model_loads).values()) == [1, 1]


def _miner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    """Exit code and stderr of `miner ARGS...` run in-process through its entry point."""
    monkeypatch.setattr(sys, "argv", ["miner", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    return int(stop.value.code or 0), capsys.readouterr().err


def test_cli_replaces_old_parts_with_force(
    cluster: LocalCluster, posts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the workers stay where they started: the client must resolve "out"
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00042.parquet").write_bytes(b"left over from a bigger run")
    args = ["classify", str(posts_file), "--engine", "dask", "--output", "out"]
    code, err = _miner(capsys, monkeypatch, *args, "--scheduler", cluster.scheduler_address, "--force")
    assert code == 0, err
    said = " ".join(err.split())  # Rich wraps long lines
    assert f"{posts_file}: {POSTS:,} classified, {len(BAD_LINES)} rejected rows written to" in said
    assert "1 Parquet parts written by 2 Dask workers" in said  # default partition size: one part
    assert [p.name for p in out.iterdir()] == ["part-00000.parquet"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_unreachable_scheduler_is_a_one_line_error(
    posts_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("miner.distributed.CONNECT_TIMEOUT_S", 1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    args = ["classify", str(posts_file), "--engine", "dask", "-o", str(tmp_path / "out")]
    code, err = _miner(capsys, monkeypatch, *args, "--scheduler", address)
    assert code == 2
    assert f"cannot reach the Dask scheduler at {address}" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("non-empty", ("posts.jsonl", "--engine", "dask", "-o", "out"), "folder exists and is not empty"),
        ("", ("posts.json", "--engine", "dask", "-o", "out"), "use the default engine, or convert it"),
        ("", ("posts.jsonl", "--engine", "dask"), "give input files and --output DIR"),
        ("", ("posts.jsonl", "--scheduler", "tcp://h:8786"), "go with --engine dask"),
    ],
)
def test_cli_refusals_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    setup: str, args: tuple[str, ...], message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name in ("posts.jsonl", "posts.json"):
        (tmp_path / name).write_text("")
    if setup == "non-empty":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "notes.txt").write_text("keep me")
    code, err = _miner(capsys, monkeypatch, "classify", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "part-00000.parquet").exists()
