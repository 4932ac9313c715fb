"""A local Jetstream: a real WebSocket server on 127.0.0.1 replaying recorded-layout frames.

It honours the subscription's `cursor` (frames stamped before it are skipped) and, once the recording is
sent, keeps the connection alive with live `identity` events stamped "now", as the real stream never runs
dry. Tests make it refuse connections (HTTP 503) or cut the TCP connection after some frames.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from miner.sources.records import Rejected, parse_time

FRAMES = Path(__file__).resolve().parents[2] / "data" / "jetstream" / "frames.jsonl"
LIVE_EVERY = 0.02  # seconds between live events once the recording is sent


@dataclass(frozen=True)
class Frame:
    """One frame as sent, and where it sits in the stream (a malformed frame: where its neighbour is)."""

    time_us: int
    text: str | bytes  # bytes: sent as a binary frame


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def recorded(end: datetime | None = None) -> list[Frame]:
    """The recorded frames, moved in time (`time_us` and `createdAt`) so that the last is sent at `end`
    (default: a minute ago)."""
    texts = [json.loads(line)["frame"] for line in FRAMES.read_text(encoding="utf-8").splitlines()]
    stamps = [_time_us(t) for t in texts]
    shift = micros(end or datetime.now(UTC) - timedelta(minutes=1)) - max(s for s in stamps if s)
    frames, last = [], 0
    for text, stamp in zip(texts, stamps, strict=True):
        last = stamp + shift if stamp else last
        frames.append(Frame(last, _shifted(text, shift) if stamp else text))
    return frames


def event_frame(time_us: int, commit: dict[str, Any] | None = None, did: str = "did:plc:live") -> Frame:
    """A frame built in the recorded layout: a commit, or an identity event when `commit` is None."""
    event: dict[str, Any] = {"did": did, "time_us": time_us}
    if commit is None:
        event |= {"kind": "identity", "identity": {"did": did, "handle": "live.bsky.social", "seq": 1}}
    else:
        event |= {"kind": "commit", "commit": commit}
    return Frame(time_us, json.dumps(event, separators=(",", ":")))


def post_frame(time_us: int, rkey: str, text: str, langs: list[str], did: str = "did:plc:author") -> Frame:
    """A post creation in the recorded layout."""
    record = {"$type": "app.bsky.feed.post", "createdAt": _iso(time_us), "text": text, "langs": langs}
    commit = {"rev": rkey, "operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey}
    return event_frame(time_us, {**commit, "record": record, "cid": f"bafyrei{rkey}"}, did)


def _time_us(text: str) -> int:
    try:
        event = json.loads(text)
    except json.JSONDecodeError:
        return 0
    stamp = event.get("time_us") if isinstance(event, dict) else None
    return stamp if isinstance(stamp, int) else 0


def _iso(time_us: int) -> str:
    moment = datetime.fromtimestamp(time_us / 1e6, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _shifted(text: str, shift: int) -> str:
    event = json.loads(text)
    event["time_us"] += shift
    record = (event.get("commit") or {}).get("record") or {}
    with contextlib.suppress(KeyError, Rejected):  # no date, or one to reject: left as recorded
        record["createdAt"] = _iso(micros(parse_time(record["createdAt"])) + shift)
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class FakeJetstream:
    """Serves `frames` from each subscription's cursor, then live events until the client leaves."""

    def __init__(self, frames: list[Frame]) -> None:
        self.frames = frames
        self.subscriptions: list[dict[str, str]] = []  # query parameters of every connection attempt
        self.refuse = 0  # the next connections get HTTP 503
        self.cut_after: list[int] = []  # the next connections: frames sent before the TCP connection is cut
        self.live = True  # False: silent once the recording is sent (a stuck server)
        self.pace = 0.0  # seconds between recorded frames (0: as fast as the client reads)
        self._server = serve(self._handle, "127.0.0.1", 0, process_request=self._gate)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    def cursors(self) -> list[int | None]:
        """The cursor each connection attempt asked for."""
        return [int(s["cursor"]) if "cursor" in s else None for s in self.subscriptions]

    def _gate(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        self.subscriptions.append({k: v[0] for k, v in parse_qs(url.query).items()} | {"path": url.path})
        if self.refuse:
            self.refuse -= 1
            return Response(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable", Headers(), b"busy\n")
        return None

    def _handle(self, ws: ServerConnection) -> None:
        cursor = int(parse_qs(urlsplit(ws.request.path).query).get("cursor", ["0"])[0])
        cut = self.cut_after.pop(0) if self.cut_after else None
        try:
            for sent, frame in enumerate(f for f in self.frames if f.time_us >= cursor):
                if sent == cut:
                    ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: a dropped connection
                    return
                ws.send(frame.text)
                time.sleep(self.pace)
            while True:
                with contextlib.suppress(TimeoutError):
                    ws.recv(timeout=LIVE_EVERY)  # a pause that notices when the client leaves
                if self.live:
                    ws.send(event_frame(micros(datetime.now(UTC))).text)
        except (ConnectionClosed, OSError):
            return  # the client left

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


def closed_port_url() -> str:
    """A ws:// address where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"ws://127.0.0.1:{port}"
