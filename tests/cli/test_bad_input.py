"""Whatever a user feeds `miner import`, `miner classify` or `miner detect --counts` (random bytes, rows
mangled or cut short, gzip cut short), the command ends with its summary or with one line of error and exit
code 2: never a traceback. Hypothesis draws the inputs; the examples are bounded to keep the suite fast."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miner.cli import main

EXAMPLES = 25  # per command and kind of input: each example runs the real command (~0.1 s)
GOOD_POSTS = [
    {"id": str(i), "text": text, "created_at": f"2024-07-19T17:{i:02d}:00Z"}
    for i, text in enumerate(
        ["plus de télé depuis 19h", "is spotify down?", "la box redémarre en boucle", "my DMs won't send"] * 5
    )
]
FORMATS = ["jsonl", "csv", "json", "jsonl.gz", "csv.gz"]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run(*args: str) -> tuple[int, str, str]:
    """`miner ARGS` in this process: exit code, stdout, stderr. Any exception but SystemExit propagates."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["miner", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str) -> None:
    """A summary (exit 0) or exactly one line of error (exit 2); no traceback either way."""
    assert "Traceback" not in err
    if code != 0:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err


def encode(posts: list[dict[str, str]], fmt: str) -> bytes:
    """Posts as a file of the format (gzip for .gz)."""
    base = fmt.removesuffix(".gz")
    if base == "jsonl":
        data = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts).encode()
    elif base == "json":
        data = json.dumps(posts, ensure_ascii=False).encode()
    else:
        rows = ["id,text,created_at", *(f'{p["id"]},"{p["text"]}",{p["created_at"]}' for p in posts)]
        data = ("\n".join(rows) + "\n").encode()
    return gzip.compress(data, mtime=0) if fmt.endswith(".gz") else data


@st.composite
def mangled(draw: st.DrawFn, fmt: str) -> bytes:
    """A good file of the format, then cut, overwritten or spliced with random bytes."""
    data = encode(GOOD_POSTS, fmt)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "overwrite", "insert"]))
        junk = draw(st.binary(min_size=1, max_size=16))
        if action == "cut":
            data = data[:at]
        elif action == "overwrite":
            data = data[:at] + junk + data[at + len(junk) :]
        else:
            data = data[:at] + junk + data[at:]
    return data


def inputs(fmt: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=300), mangled(fmt))


def write(folder: Path, fmt: str, data: bytes) -> Path:
    path = folder / f"input.{fmt}"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input")


def by_format(check: Callable[[Path, str, bytes], None]) -> Callable[..., None]:
    """One hypothesis test per format."""

    @pytest.mark.parametrize("fmt", FORMATS)
    def test(folder: Path, fmt: str) -> None:
        @SETTINGS
        @given(inputs(fmt))
        def each(data: bytes) -> None:
            check(folder, fmt, data)

        each()

    return test


def _import(folder: Path, fmt: str, data: bytes) -> None:
    path = write(folder, fmt, data)
    code, _, err = run(
        "import", str(path), "--service", "free", "--db-url", f"sqlite:///{folder / 'miner.db'}"
    )
    assert_clean(code, err)


def _classify(folder: Path, fmt: str, data: bytes) -> None:
    path = write(folder, fmt, data)
    code, out, err = run("classify", str(path))
    assert_clean(code, err)
    for line in out.splitlines():
        assert json.loads(line)["lang"] in ("fr", "en", "other")


test_import_never_tracebacks = by_format(_import)
test_classify_never_tracebacks = by_format(_classify)


BINS_PER_DAY = 288
GOOD_COUNTS = "timestamp,value\n" + "".join(  # two days of 5-minute bins, small counts
    f"2024-07-{1 + i // BINS_PER_DAY:02d} {i % BINS_PER_DAY // 12:02d}:{i % 12 * 5:02d}:00,{i * 7 % 5}\n"
    for i in range(BINS_PER_DAY * 2)
)
CELLS = st.one_of(
    st.sampled_from(
        ["-3", "abc", "", "nan", "inf", "1e308", "2024-13-45 25:61:00", "3.5", " ", "0x10", "1,5"]
    ),
    st.text(max_size=6),
)


@st.composite
def counts_files(draw: st.DrawFn) -> bytes:
    """A good NAB-style series with some cells replaced, lines dropped or cut, or random bytes."""
    lines = GOOD_COUNTS.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        row = draw(st.integers(0, len(lines) - 1))
        cells = lines[row].split(",")
        column = draw(st.integers(0, len(cells) - 1))
        cells[column] = draw(CELLS)
        lines[row] = ",".join(cells)
    if draw(st.booleans()):
        lines = lines[: draw(st.integers(0, len(lines)))]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@SETTINGS
@given(st.one_of(st.binary(max_size=300), counts_files()))
def test_detect_counts_never_tracebacks(folder: Path, data: bytes) -> None:
    path = write(folder, "csv", data)
    code, _, err = run("detect", "--counts", str(path))
    assert_clean(code, err)


def test_good_inputs_give_summaries(folder: Path) -> None:
    # The properties above would hold for a command that refused everything: the unmangled inputs must pass.
    for fmt in FORMATS:
        code, _, err = run(
            "import", str(write(folder, fmt, encode(GOOD_POSTS, fmt))), "--db-url", "sqlite://"
        )
        assert code == 0 and "Import summary" in err, err
        code, out, err = run("classify", str(write(folder, fmt, encode(GOOD_POSTS, fmt))))
        assert code == 0 and len(out.splitlines()) == len(GOOD_POSTS), err
    code, out, err = run("detect", "--counts", str(write(folder, "csv", GOOD_COUNTS.encode())))
    assert code == 0 and re.search(r"\d+ incidents? in ", err), err


DEAD_SERVER = "postgresql+psycopg://miner:s3cret@127.0.0.1:1/miner"  # nothing listens on port 1
COMMANDS_ON_THE_STORE = [
    ["import", "{posts}", "--service", "free"],
    ["classify", "--db"],
    ["detect", "--db"],
    ["collect", "mastodon", "--service", "free"],
    ["watch", "--once", "--source", "mastodon"],
    ["labels", "export", "{out}"],
]


UNUSABLE_URLS = {"dead server": DEAD_SERVER, "no url": "not a url", "not a database": "sqlite:///{not_a_db}"}


@pytest.mark.parametrize("command", COMMANDS_ON_THE_STORE, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("url", list(UNUSABLE_URLS.values()), ids=list(UNUSABLE_URLS))
def test_an_unusable_database_is_one_line_for_every_command(
    folder: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], url: str
) -> None:
    posts = write(folder, "jsonl", encode(GOOD_POSTS, "jsonl"))
    not_a_db = folder / "notes.db"
    not_a_db.write_text("these are notes, not a database\n" * 10)
    monkeypatch.setenv("MINER_DB_URL", url.format(not_a_db=not_a_db))
    args = [arg.format(posts=posts, out=folder / "out.jsonl") for arg in command]
    code, _, err = run(*args)
    assert_clean(code, err)
    assert code == 2 and "database" in err and "s3cret" not in err
