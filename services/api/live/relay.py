"""One Redis pub/sub connection per gateway process, fanned out to every WebSocket client.

The relay pattern-subscribes to `lob:predictions:*` and `lob:jobs:*` and subscribes to
`lob:models`. A message goes, as the same JSON text, to every client subscribed to its channel
(`lob:models` goes to everyone). Each client has a bounded queue drained by its own task, so a
slow client only ever fills its own queue; when that overflows the client is dropped with close
code 4008 and nobody else waits. If Redis goes away the relay reconnects with backoff; clients
keep their sockets meanwhile.

Pub/sub keeps nothing for a subscriber that is away, so inference also appends every prediction
to its symbol's capped stream (`predictions_stream`). On each reconnect, before reading pub/sub
again, the relay reads back each subscribed symbol's stream and sends what came after the last
prediction it delivered (`missed`); pub/sub's own copies of what that read returned are then
dropped, so a client sees no gap and no duplicate in `seq`.

The relay hears every prediction inference publishes, subscribed to or not, so it also knows
which symbols inference is serving now: `live_symbols()`, served at GET /api/live/symbols.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError, ResponseError

from services.api.system.metrics import REGISTRY
from shared.events import (
    MODELS_CHANNEL,
    PREDICTIONS_STREAM_FIELD,
    job_channel,
    predictions_channel,
    predictions_stream,
)
from shared.feed.snapshot import SYMBOL_RE

log = logging.getLogger("lob.relay")

DEFAULT_QUEUE = 1024  # messages per client: ~10 s of all 10 demo symbols at 10 snapshots/s
SLOW_CLIENT_CODE = 4008  # private-use close code: "you fell too far behind"
RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)
PREDICTIONS_PREFIX = predictions_channel("")  # "lob:predictions:", then the symbol
SCORES_PREFIX = '{"type":"scores"'  # how inference's LiveScores JSON starts (model_dump_json)
PATTERNS = (PREDICTIONS_PREFIX + "*", "lob:jobs:*")
# A symbol is live while predictions for it keep coming: inference publishes one per snapshot,
# 10/s from the demo replay and up to 10/s from Binance's depth@100ms stream, so 10 s without
# one means its feed stopped.
LIVE_WITHIN_S = 10.0
# Newest stream entries read back per symbol on a reconnect: 50 s at 10 predictions/s, far beyond
# a reconnect's few seconds, and half a client's queue, so one symbol's backfill cannot overflow it.
BACKFILL_LIMIT = 500
_SEQ = re.compile(r'"seq":\s*(\d+)')  # a Prediction's only "seq" key (nested objects have none)

CLIENTS = Gauge("lob_ws_clients", "Connected WebSocket clients", registry=REGISTRY)
DROPPED = Counter(
    "lob_ws_dropped_total", "Clients dropped because their queue overflowed", registry=REGISTRY
)
RELAYED = Counter("lob_ws_relayed_total", "Messages received from Redis", registry=REGISTRY)
RECONNECTS = Counter(
    "lob_relay_reconnects_total", "Relay reconnections to Redis after an error", registry=REGISTRY
)
BACKFILLED = Counter(
    "lob_relay_backfilled_total",
    "Predictions read back from their stream after a reconnect and delivered",
    registry=REGISTRY,
)


def _public_promotion(text: str) -> str:
    """A lob:models message as browsers see it: without `path` (a directory on the server), also
    inside a shadow's `model`."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        data.pop("path", None)
        if isinstance(data.get("model"), dict):
            data["model"].pop("path", None)
    return json.dumps(data)


def _seq(text: str) -> int | None:
    match = _SEQ.search(text)
    return int(match.group(1)) if match else None


def missed(newest_first: list[str], last: str) -> list[str]:
    """The entries of a stream read that came after `last`, the prediction delivered last; oldest
    first. `newest_first` is a symbol's newest stream entries, newest first.

    Where the read holds `last` (compared as whole JSON texts, which differ whenever seq does),
    what is newer was missed. Where it does not, the stream lost it: Redis came back empty (the
    stream then holds only what was published since) or trimmed it. What came after is then what
    numbers past `last`'s seq; entries at or below it are a batch inference sent again after the
    restart, delivered already. Unless inference started numbering again, at 1: a new process on
    a Redis that lost its recorded seqs. A seq 1 in the read can only be that (had `last`'s own
    numbering begun in this stream, `last` would be in it too), and everything from the newest
    seq 1 on was missed. So a renumbering is never mistaken for what was already delivered.
    """
    for i, text in enumerate(newest_first):
        if text == last:
            return newest_first[:i][::-1]
    seqs = [_seq(text) for text in newest_first]
    if 1 in seqs:
        return newest_first[: seqs.index(1) + 1][::-1]
    floor = _seq(last)
    if floor is None:
        return []
    return [
        t for t, s in zip(newest_first[::-1], seqs[::-1], strict=True) if s is None or s > floor
    ]


@dataclass(eq=False)
class Client:
    """One WebSocket connection: its subscriptions and its bounded outgoing queue."""

    send: Callable[[str], Awaitable[None]]
    queue_size: int = DEFAULT_QUEUE
    symbols: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(init=False)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, text: str) -> None:
        """Never blocks: a full queue marks the client as overflowed (its handler drops it)."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()
            DROPPED.inc()

    async def pump(self) -> None:
        """Drain the queue into the socket, in order; runs as the client's own task."""
        while True:
            text = await self.queue.get()
            await self.send(text)
            self.sent += 1


class Relay:
    def __init__(self, redis_url: str, *, queue_size: int = DEFAULT_QUEUE) -> None:
        self.redis_url = redis_url
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self._by_channel: dict[str, set[Client]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.received = 0
        self._heard: dict[str, float] = {}  # symbol -> monotonic time of its last prediction
        self._delivered: dict[str, str] = {}  # predictions channel -> its last message relayed
        # predictions channel -> the entries the last backfill read: pub/sub copies to drop
        self._read_back: dict[str, set[str]] = {}

    # -- clients -------------------------------------------------------------------------------

    def add(self, client: Client) -> None:
        self.clients.add(client)
        CLIENTS.set(len(self.clients))

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        for channel in [predictions_channel(s) for s in client.symbols] + [
            job_channel(j) for j in client.jobs
        ]:
            self._unlink(channel, client)
        CLIENTS.set(len(self.clients))

    def subscribe(self, client: Client, *, symbols: list[str], jobs: list[str]) -> None:
        for symbol in symbols:
            client.symbols.add(symbol)
            self._by_channel.setdefault(predictions_channel(symbol), set()).add(client)
        for job in jobs:
            client.jobs.add(job)
            self._by_channel.setdefault(job_channel(job), set()).add(client)

    def unsubscribe(self, client: Client, *, symbols: list[str], jobs: list[str]) -> None:
        for symbol in symbols:
            client.symbols.discard(symbol)
            self._unlink(predictions_channel(symbol), client)
        for job in jobs:
            client.jobs.discard(job)
            self._unlink(job_channel(job), client)

    def _unlink(self, channel: str, client: Client) -> None:
        members = self._by_channel.get(channel)
        if members is not None:
            members.discard(client)
            if not members:
                del self._by_channel[channel]

    def live_symbols(
        self, *, within_s: float = LIVE_WITHIN_S, now: float | None = None
    ) -> list[str]:
        """Symbols with a prediction relayed in the `within_s` seconds before `now`, by name."""
        cutoff = (time.monotonic() if now is None else now) - within_s
        self._heard = {s: t for s, t in self._heard.items() if t >= cutoff}  # forget the rest
        return sorted(s for s in self._heard if SYMBOL_RE.fullmatch(s))

    def dispatch(self, channel: str, text: str) -> None:
        self.received += 1
        RELAYED.inc()
        if channel.startswith(PREDICTIONS_PREFIX):
            self._heard[channel[len(PREDICTIONS_PREFIX) :]] = time.monotonic()
            # A `scores` message shares the channel but is not in the symbol's stream: it is
            # neither deduplicated nor what marks the last delivered. Inference writes it with
            # pydantic, `type` first, so a prefix test tells it apart without parsing.
            if not text.startswith(SCORES_PREFIX):
                if self._read_back and self._read_back_already(channel, text):
                    return
                self._delivered[channel] = text
        if channel == MODELS_CHANNEL:
            text = _public_promotion(text)
        targets = self.clients if channel == MODELS_CHANNEL else self._by_channel.get(channel)
        if targets:
            for client in tuple(targets):
                client.offer(text)

    def _read_back_already(self, channel: str, text: str) -> bool:
        """Whether pub/sub's `text` is in what the last backfill read of `channel`'s stream."""
        read = self._read_back.get(channel)
        if read is None:
            return False
        if text in read:
            return True  # published between our subscribe and that read: sent already
        # Published after that read, and pub/sub keeps order: so is everything that follows.
        del self._read_back[channel]
        return False

    # -- Redis ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lob-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        attempt = 0
        while True:
            client = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=2, health_check_interval=10
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(*PATTERNS)
                await pubsub.subscribe(MODELS_CHANNEL)
                # Subscribed first, then read back: nothing published meanwhile falls between the
                # two, and what comes both ways is dropped from pub/sub (dispatch).
                await self._backfill(client)
                self.connected.set()
                if attempt:
                    log.info("relay reconnected to Redis")
                attempt = 0
                await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                self.connected.clear()
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                if attempt == 0:
                    log.warning("relay lost Redis (%s); reconnecting", exc)
                    self.reconnects += 1
                    RECONNECTS.inc()
                attempt += 1
                await asyncio.sleep(delay)
            finally:
                self.connected.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    async def _backfill(self, client: aioredis.Redis) -> None:
        """Send each subscribed symbol's clients what was published for it while we were away."""
        self._read_back = {}
        # A symbol nobody is subscribed to now starts again from pub/sub: nothing stale is kept.
        self._delivered = {c: t for c, t in self._delivered.items() if c in self._by_channel}
        key = PREDICTIONS_STREAM_FIELD.encode()
        sent = 0
        for channel, last in list(self._delivered.items()):
            stream = predictions_stream(channel[len(PREDICTIONS_PREFIX) :])
            try:
                rows = await client.xrevrange(stream, count=BACKFILL_LIMIT)
            except ResponseError as exc:  # not a stream: that symbol resumes from pub/sub
                log.warning("relay cannot read back %s: %s", stream, exc)
                continue
            read = [fields[key].decode() for _, fields in rows if key in fields]
            for text in missed(read, last):
                self.dispatch(channel, text)
                sent += 1
                await asyncio.sleep(0)  # let the clients' pumps drain, as _listen does
            self._read_back[channel] = set(read)
        if sent:
            BACKFILLED.inc(sent)
            log.info("relay read back %d predictions missed while reconnecting", sent)

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        last_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                # Quiet channel: make sure the connection is still alive so a restarted Redis
                # is noticed within seconds, not at the next message that never comes.
                if time.monotonic() - last_ping > 2.0:
                    await pubsub.ping()
                    last_ping = time.monotonic()
                continue
            if message["type"] not in ("message", "pmessage"):
                continue
            channel = message["channel"]
            data = message["data"]
            self.dispatch(
                channel.decode() if isinstance(channel, bytes) else channel,
                data.decode() if isinstance(data, bytes) else str(data),
            )
            # A burst already buffered from Redis would otherwise be dispatched without ever
            # yielding, filling every client's queue before any pump got to run.
            await asyncio.sleep(0)
