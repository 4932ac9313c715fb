"""`miner collect` end to end: one-line errors, a real run against the local API, and a SIGKILL mid-run."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import pytest
from sqlalchemy import select

from miner import store
from miner.cli import main
from tests.collect.conftest import X_TOKEN
from tests.collect.fakes import FakeMastodon, FakeServer, FakeX, Seen

# The `miner` app with only `collect` registered, for a child process that starts fast.
ONLY_COLLECT = "import miner.cli.collect; from miner.cli import app; app()"

SERVICES = """
[outage_words]
fr = ["panne"]
en = ["down"]

[[services]]
name = "free"
aliases = ["freebox"]
hashtags = ["freebox"]
terms.fr = ["freebox"]
"""


@pytest.fixture
def services_file(tmp_path: Path) -> Path:
    path = tmp_path / "services.toml"
    path.write_text(SERVICES, encoding="utf-8")
    return path


def run_cli(
    capsys: pytest.CaptureFixture[str], *args: str, module: str = "miner.cli.collect"
) -> tuple[int, str]:
    """Run `miner ARGS` through the real entry point (errors become one line and exit 2) with only
    this command's module registered: the others load language models, seconds that test nothing here."""
    register = patch("miner.cli._register_commands", lambda: importlib.import_module(module))
    with register, patch.object(sys, "argv", ["miner", *args]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, capsys.readouterr().err


def stored_ids(db_url: str) -> list[str]:
    engine = store.connect(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(store.posts.c.id)).scalars())
    finally:
        engine.dispose()


def test_missing_credentials_give_one_line_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, "collect", "x", "--service", "free")
    assert code == 2
    assert err == "error: x needs an API bearer token: set X_BEARER_TOKEN\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mastodon", "--service", "nope"], "unknown service 'nope'"),
        (["myspace", "--service", "free"], "unknown source 'myspace'"),
        (["mastodon", "--service", "free", "--since", "last tuesday"], "--since: unparseable date"),
    ],
)
def test_bad_arguments_are_one_clear_error(
    capsys: pytest.CaptureFixture[str], services_file: Path, args: list[str], message: str
) -> None:
    code, err = run_cli(capsys, "collect", *args, "--services", str(services_file))
    assert code == 2 and err.startswith("error: ") and message in err


def test_collect_x_end_to_end(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    services_file: Path,
    db_url: str,
) -> None:
    FakeX(server).add(3)
    monkeypatch.setenv("X_BEARER_TOKEN", X_TOKEN)
    monkeypatch.setenv("X_API_URL", server.url)
    code, err = run_cli(
        capsys, "collect", "x", "--service", "freebox", "--services", str(services_file), "--db-url", db_url
    )
    assert code == 0, err
    assert server.seen[0].params["query"] == "freebox (panne OR down) -is:retweet (lang:fr OR lang:en)"
    assert "Collect summary" in err and "total" in err and X_TOKEN not in err
    assert len(stored_ids(db_url)) == 3


def test_a_killed_run_resumes_without_loss_or_duplicates(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: FakeServer,
    services_file: Path,
    db_url: str,
    tmp_path: Path,
) -> None:
    FakeMastodon(server).add(3)
    release = threading.Event()

    def hold_page_two(seen: Seen) -> None:
        if "max_id" in seen.params:
            release.wait(10)

    server.intercept = hold_page_two
    monkeypatch.setenv("MASTODON_INSTANCES", server.url)
    args = ["collect", "mastodon", "--service", "free", "--services", str(services_file), "--db-url", db_url]
    child = subprocess.Popen(
        [sys.executable, "-c", ONLY_COLLECT, *args],
        env=dict(os.environ),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any("max_id" in s.params for s in server.seen) or child.poll() is not None)
        assert child.poll() is None, "the collector ended before asking for page 2"
    finally:
        child.kill()  # SIGKILL: no cleanup, no rollback handler, mid-request
        child.wait()
        release.set()
    assert (
        len(stored_ids(db_url)) == 2
    )  # page 1 was committed with its checkpoint before page 2 was asked for

    server.intercept = None
    code, err = run_cli(capsys, *args)
    assert code == 0, err
    ids = stored_ids(db_url)
    assert len(ids) == len(set(ids)) == 3


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)
