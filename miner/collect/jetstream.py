"""Bluesky's firehose through Jetstream: every public post, live, with no account.

Jetstream serves the network's commits as JSON over a WebSocket, e.g.
`wss://jetstream2.us-east.bsky.network/subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>`.
Each text frame is one event `{"did", "time_us", "kind"}`: kind "commit" carries `commit` (`operation`
create / update / delete, `collection`, `rkey` and, unless deleted, `record`); "identity" and "account"
events carry account changes. A post's record holds `text`, `createdAt` and `langs`.

We keep created or updated posts whose `langs` name French or English and that `miner.match` ties to a
watched service (the terms x outage words the search collectors query), and store them with source
"bluesky" under their at:// URI: the id the search collector stores, so a post both find is stored once.

Resuming: `time_us` is the cursor. The matched posts and the cursor of the last event read are written in
one transaction (every FLUSH_SECONDS, or at FLUSH_POSTS pending posts), so a crash or a kill -9 at any
moment restarts from the last committed event: nothing is lost, and the store's (source, id) key drops
what is read twice. Each reconnection, after a backoff, goes to the next host in turn and asks for
REWIND_US before the cursor: Jetstream's own advice for gapless playback, and each host stamps `time_us`
itself. Memory stays bounded whatever the stream rate: the client holds at most MAX_QUEUE frames of at
most MAX_FRAME_BYTES, the server is asked to drop larger events, and pending posts are flushed at
FLUSH_POSTS.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from websockets.exceptions import InvalidURI, WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from miner import store
from miner.collect.base import make_post
from miner.collect.bluesky import POST_COLLECTION, web_url
from miner.collect.http import USER_AGENT
from miner.collect.policy import RetryPolicy
from miner.errors import BadInput, SourceError
from miner.match import Matcher
from miner.post import Post
from miner.services import JETSTREAM, LANGS
from miner.sources.records import Rejected, parse_time

log = logging.getLogger(__name__)

SOURCE = "bluesky"  # stored posts share the search collector's source and ids
# Bluesky's public instances; any of them serves the whole network.
HOSTS = (
    "wss://jetstream1.us-east.bsky.network",
    "wss://jetstream2.us-east.bsky.network",
    "wss://jetstream1.us-west.bsky.network",
    "wss://jetstream2.us-west.bsky.network",
)
CHECKPOINT_SOURCE = JETSTREAM
# The AT Protocol's syntax for DIDs and record keys: what may go into an at:// URI.
DID_RE = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")
RKEY_RE = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
ID_CHARS = store.posts.c.id.type.length  # a longer at:// URI (a did:web of a long domain) cannot be stored

# Commit every 2 s: a kill replays at most that much of the stream, and SQLite sees one small write.
FLUSH_SECONDS = 2.0
# ... or as soon as this many posts wait: a burst of matches never piles up in memory.
FLUSH_POSTS = 500
# Resume this far before the saved cursor: hosts stamp time_us themselves, so a cursor from one host is
# only close on another; what comes twice is dropped by the store's key.
REWIND_US = 5_000_000
# A first run (no saved cursor, no --since) starts this far back, so the dashboard has data at once.
FIRST_LOOKBACK = timedelta(hours=1)
# Events larger than this are dropped by the server (maxMessageSizeBytes); posts are a few kB at most.
MAX_EVENT_BYTES = 256 * 1024
# The client's own cap per frame (well above the server's, so an event at that limit still fits with its
# envelope), and how many frames it buffers before TCP pushes back: together they bound its memory.
MAX_FRAME_BYTES = 1024 * 1024
MAX_QUEUE = 64
# The firehose carries tens of posts a second: this long without a frame means a stuck connection.
STALL_SECONDS = 60.0
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0  # leaving politely must not delay a stop
# A time_us this far ahead of our clock is garbage: saved as the cursor, it would skip what lies between.
MAX_AHEAD_US = 10 * 60 * 1_000_000
MIN_TIME_US = 946_684_800_000_000  # 2000-01-01: no event is older
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The live line says "live" within this lag of the clock: replays and reconnections lag more.
LIVE_LAG = timedelta(seconds=10)


@dataclass(slots=True)
class Counters:
    """What the stream brought so far (a `Jetstream` updates them; copies are taken to show rates)."""

    events: int = 0  # frames read
    posts: int = 0  # post creations and updates among them
    kept: int = 0  # ... in French or English
    matched: int = 0  # ... about a watched service
    stored: int = 0  # ... new to the store
    rejected: int = 0  # malformed frames and unusable posts
    reconnects: int = 0
    cursor: int | None = None  # time_us of the last event read


def rate(before: int, after: int, seconds: float) -> float:
    """Events per second between two counts."""
    return (after - before) / seconds if seconds > 0 else 0.0


def status_line(before: Counters, after: Counters, seconds: float, now: datetime | None = None) -> str:
    """The live line: posts seen, kept (fr/en) and matched per second, new posts stored, lag."""
    now = now or datetime.now(UTC)
    lag = ""
    if after.cursor is not None:
        behind = now - _instant(after.cursor)
        lag = f" · {_duration(behind)} behind" if behind >= LIVE_LAG else " · live"
    problems = f" · {after.rejected:,} rejected" if after.rejected else ""
    problems += f" · {after.reconnects:,} reconnects" if after.reconnects else ""
    return (
        f"seen {rate(before.posts, after.posts, seconds):,.1f}/s · "
        f"fr/en {rate(before.kept, after.kept, seconds):,.1f}/s · "
        f"matched {rate(before.matched, after.matched, seconds):,.2f}/s · stored {after.stored:,}"
        f"{lag}{problems}"
    )


def _duration(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    return (
        f"{seconds // 3600} h {seconds // 60 % 60:02d} min"
        if seconds >= 3600
        else f"{seconds // 60} min {seconds % 60:02d} s"
    )


def _instant(time_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=time_us)


def _micros(moment: datetime) -> int:
    """Microseconds since 1970, exactly (through floats, a microsecond may be lost)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


# --- frames -----------------------------------------------------------------------------------------


def read_frame(frame: str | bytes, now_us: int) -> tuple[int, dict[str, Any]]:
    """(time_us, event) of one frame; Rejected, with the reason, when it is not an event we can place."""
    if isinstance(frame, bytes):
        try:
            frame = frame.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("frame is not UTF-8 text") from None
    try:
        event = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise Rejected(f"frame is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(event, dict):
        raise Rejected(f"frame is a JSON {type(event).__name__}, not an object")
    time_us = event.get("time_us")
    if isinstance(time_us, bool) or not isinstance(time_us, int) or time_us < MIN_TIME_US:
        raise Rejected(f"time_us {time_us!r} is not a microsecond timestamp")
    if time_us > now_us + MAX_AHEAD_US:
        raise Rejected(f"time_us {time_us} is in the future ({_instant(time_us).isoformat()})")
    return time_us, event


def post_commit(event: dict[str, Any]) -> dict[str, Any] | None:
    """The commit of an event that creates or updates a post; None for any other event."""
    if event.get("kind") != "commit":
        return None  # identity and account events, and kinds Jetstream may add later
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise Rejected("commit event without a commit object")
    if commit.get("collection") != POST_COLLECTION or commit.get("operation") not in ("create", "update"):
        return None  # likes, follows... (a host that ignores wantedCollections) and deletes
    if not isinstance(commit.get("record"), dict):
        raise Rejected(f"post {commit.get('operation')} without a record")
    return commit


def languages(value: Any) -> list[str]:
    """The languages we classify (fr, en) among a record's BCP 47 tags ("fr-FR" is fr), in their order."""
    found: list[str] = []
    for tag in value if isinstance(value, list) else []:
        base = tag.split("-", 1)[0].strip().lower() if isinstance(tag, str) else ""
        if base in LANGS and base not in found:
            found.append(base)
    return found


def to_post(event: dict[str, Any], commit: dict[str, Any], service: str, lang: str) -> Post:
    """A matched post as stored. Its time is the earlier of `createdAt` (set by the author's app) and
    `time_us` (when the network saw it), as Bluesky's own AppView sorts posts: a clock in the future
    cannot push a post past the present."""
    did, rkey, record = event.get("did"), commit.get("rkey"), commit["record"]
    if not (
        isinstance(did, str) and DID_RE.fullmatch(did) and isinstance(rkey, str) and RKEY_RE.fullmatch(rkey)
    ):
        raise Rejected(f"not a DID and record key: {did!r}, {rkey!r}"[:120])
    uri = f"at://{did}/{POST_COLLECTION}/{rkey}"
    if len(uri) > ID_CHARS:
        raise Rejected(f"post URI longer than {ID_CHARS} characters: {uri[:60]!r}…")
    created = min(parse_time(record.get("createdAt")), _instant(event["time_us"]))
    return make_post(
        SOURCE,
        service,
        {"time_us": event["time_us"], "commit": commit},
        id=uri,
        text=record.get("text"),
        created_at=created,
        author=did,
        url=web_url(did, rkey),
        lang=lang,
    )


def subscribe_url(host: str, cursor_us: int) -> str:
    """The subscription address: posts only, from `cursor_us`, events over MAX_EVENT_BYTES dropped."""
    params = {
        "wantedCollections": POST_COLLECTION,
        "cursor": cursor_us,
        "maxMessageSizeBytes": MAX_EVENT_BYTES,
    }
    return f"{host.rstrip('/')}/subscribe?{urlencode(params)}"


def checkpoint_key(service: str | None) -> str:
    """Where the cursor is saved: one for all services, one per service listened to alone."""
    return POST_COLLECTION if service is None else f"{POST_COLLECTION} service:{service}"


def check_hosts(hosts: list[str]) -> list[str]:
    """The hosts, validated as ws:// or wss:// addresses (BadInput naming the bad one)."""
    if not hosts:
        raise BadInput("no Jetstream host given")
    for host in hosts:
        try:
            parse_uri(host)
        except InvalidURI:
            raise BadInput(f"Jetstream host {host!r} is not a ws:// or wss:// address") from None
    return hosts


# --- the listener -----------------------------------------------------------------------------------


class Jetstream:
    """Reads the stream into the store: `run` blocks until caught up or stopped; `start` runs it in a
    thread (what `miner watch` does) and `take_new` tells each watch cycle what arrived since the last."""

    def __init__(
        self,
        engine: Engine,
        matcher: Matcher,
        hosts: list[str] | tuple[str, ...] = HOSTS,
        *,
        key: str = POST_COLLECTION,
        policy: RetryPolicy | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        flush_posts: int = FLUSH_POSTS,
    ) -> None:
        self.engine, self.matcher, self.key = engine, matcher, key
        self.hosts = check_hosts(list(hosts))
        self.policy = policy or RetryPolicy()
        self.flush_seconds, self.flush_posts = flush_seconds, flush_posts
        self.counters = Counters()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: list[Post] = []
        self._saved: int | None = None  # the committed cursor
        self._origin = 0  # where a first run starts (set by `run`)
        self._host = 0
        self._flushed_at = time.monotonic()
        self._taken = 0

    # -- public ---------------------------------------------------------------------------------------

    def run(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        max_posts: int | None = None,
        attempts: int | None = None,
    ) -> Counters:
        """Listen until the stream reaches `until`, `max_posts` posts matched or `stop()`; resumes from
        the saved cursor (or `since` when later), else from `since`, else FIRST_LOOKBACK ago. Gives up
        after `attempts` failed connections in a row (SourceError); None retries for ever."""
        self._resume(since)
        until_us = None if until is None else _micros(until)
        failures = 0
        while not self._done(until_us, max_posts):
            host, read = self.hosts[self._host], self.counters.events
            try:
                with connect(subscribe_url(host, self._from()), **self._client_options()) as ws:
                    self._read(ws, until_us, max_posts)
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.flush()
                failures = 1 if self.counters.events > read else failures + 1
                self._reconnect(host, exc, failures, attempts)
        self.flush()
        return self.snapshot()

    def start(self, **run_options: Any) -> None:
        """`run` in a background thread; its error, if any, is kept in `error`."""
        self._thread = threading.Thread(
            target=self._background, kwargs=run_options, name=JETSTREAM, daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background run to end (True when it has); re-raises its error."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self._thread is None or not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading; the background thread commits what it read before it ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> Counters:
        """A copy of the counters (read from another thread: each figure is exact, together approximate)."""
        return replace(self.counters)

    def take_new(self) -> int:
        """Posts stored since the last call."""
        stored = self.counters.stored
        new, self._taken = stored - self._taken, stored
        return new

    # -- connection -----------------------------------------------------------------------------------

    def _background(self, **run_options: Any) -> None:
        try:
            self.run(**run_options)
        except Exception as exc:  # kept for the caller (`wait` re-raises it), who reports it in one line
            self.error = exc

    def _client_options(self) -> dict[str, Any]:
        return {
            "open_timeout": OPEN_TIMEOUT,
            "close_timeout": CLOSE_TIMEOUT,
            "max_size": MAX_FRAME_BYTES,
            "max_queue": MAX_QUEUE,
            "user_agent_header": USER_AGENT,
        }

    def _resume(self, since: datetime | None) -> None:
        with self.engine.connect() as conn:
            state = store.load_checkpoint(conn, CHECKPOINT_SOURCE, self.key)
        saved = state.get("time_us")
        if isinstance(saved, int) and not isinstance(saved, bool):
            self._saved = self.counters.cursor = saved
            self._host = self.hosts.index(state["host"]) if state.get("host") in self.hosts else 0
        start = None if since is None else _micros(since)
        if self.counters.cursor is None or (start is not None and start > self.counters.cursor):
            self.counters.cursor = None  # nothing read yet, or nothing worth reading before `since`
            self._origin = start if start is not None else _micros(datetime.now(UTC) - FIRST_LOOKBACK)

    def _from(self) -> int:
        """Where the next connection starts: a little before the last event read, else the origin."""
        cursor = self.counters.cursor
        return self._origin if cursor is None else cursor - REWIND_US

    def _reconnect(self, host: str, exc: BaseException, failures: int, attempts: int | None) -> None:
        """After a failed or dropped connection: give up, or wait and move to the next host."""
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if attempts is not None and failures >= attempts:
            raise SourceError(f"jetstream: {host}: {reason} (gave up after {failures} failed connections)")
        self._host = (self._host + 1) % len(self.hosts)
        delay = self.policy.backoff(failures)
        log.warning("jetstream: %s: %s; trying %s in %.1f s", host, reason, self.hosts[self._host], delay)
        self.counters.reconnects += 1
        self._stop.wait(delay)

    def _done(self, until_us: int | None, max_posts: int | None) -> bool:
        cursor = self.counters.cursor
        return (
            self._stop.is_set()
            or (until_us is not None and cursor is not None and cursor >= until_us)
            or (max_posts is not None and self.counters.matched >= max_posts)
        )

    def _read(self, ws: ClientConnection, until_us: int | None, max_posts: int | None) -> None:
        """Frames until done; a stuck connection raises TimeoutError, a dropped one ConnectionClosed."""
        last_frame = time.monotonic()
        while not self._done(until_us, max_posts):
            try:
                frame = ws.recv(timeout=max(0.05, self._flushed_at + self.flush_seconds - time.monotonic()))
            except TimeoutError:
                if time.monotonic() - last_frame > STALL_SECONDS:
                    raise TimeoutError(f"no event for {STALL_SECONDS:.0f} s") from None
            else:
                last_frame = time.monotonic()
                self.take(frame)
            if (
                len(self._pending) >= self.flush_posts
                or time.monotonic() >= self._flushed_at + self.flush_seconds
            ):
                self.flush()

    # -- events ---------------------------------------------------------------------------------------

    def take(self, frame: str | bytes) -> None:
        """One frame: the cursor moves past it; a matched post joins the pending ones."""
        counters = self.counters
        counters.events += 1
        try:
            time_us, event = read_frame(frame, time.time_ns() // 1000)
        except Rejected as exc:
            self._reject(None, exc)
            return
        counters.cursor = max(time_us, counters.cursor or 0)
        try:
            commit = post_commit(event)
            if commit is None:
                return
            counters.posts += 1
            langs = languages(commit["record"].get("langs"))
            if not langs:
                return
            counters.kept += 1
            text = commit["record"].get("text")
            hit = self.matcher.match(text, langs) if isinstance(text, str) else None
            if hit is None:
                return
            self._pending.append(to_post(event, commit, *hit))
            counters.matched += 1
        except (Rejected, ValueError, OverflowError) as exc:
            self._reject(time_us, exc)

    def _reject(self, time_us: int | None, exc: Exception) -> None:
        self.counters.rejected += 1
        where = "a frame" if time_us is None else f"the event at time_us {time_us}"
        log.warning("jetstream: rejected %s: %s", where, exc)

    def flush(self) -> None:
        """Store the pending posts and the cursor in one transaction."""
        cursor = self.counters.cursor
        self._flushed_at = time.monotonic()
        if cursor is None or (cursor == self._saved and not self._pending):
            return
        state = {"time_us": cursor, "host": self.hosts[self._host]}
        with self.engine.begin() as conn:
            new = store.insert_posts(conn, self._pending)
            store.save_checkpoint(conn, CHECKPOINT_SOURCE, self.key, state)
        self._pending.clear()
        self._saved = cursor
        self.counters.stored += new
