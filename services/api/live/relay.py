"""One Redis pub/sub connection per gateway process, fanned out to every WebSocket client.

The relay pattern-subscribes to `lob:predictions:*` and `lob:jobs:*` and subscribes to
`lob:models`. A message goes, as the same JSON text, to every client subscribed to its channel
(`lob:models` goes to everyone). Each client has a bounded queue drained by its own task, so a
slow client only ever fills its own queue; when that overflows the client is dropped with close
code 4008 and nobody else waits. If Redis goes away the relay reconnects with backoff; clients
keep their sockets and simply see no messages meanwhile.

The relay hears every prediction inference publishes, subscribed to or not, so it also knows
which symbols inference is serving now: `live_symbols()`, served at GET /api/live/symbols.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from services.api.system.metrics import REGISTRY
from shared.events import MODELS_CHANNEL, job_channel, predictions_channel
from shared.feed.snapshot import SYMBOL_RE

log = logging.getLogger("lob.relay")

DEFAULT_QUEUE = 1024  # messages per client: ~10 s of all 10 demo symbols at 10 snapshots/s
SLOW_CLIENT_CODE = 4008  # private-use close code: "you fell too far behind"
RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)
PREDICTIONS_PREFIX = predictions_channel("")  # "lob:predictions:", then the symbol
PATTERNS = (PREDICTIONS_PREFIX + "*", "lob:jobs:*")
# A symbol is live while predictions for it keep coming: inference publishes one per snapshot,
# 10/s from the demo replay and up to 10/s from Binance's depth@100ms stream, so 10 s without
# one means its feed stopped.
LIVE_WITHIN_S = 10.0

CLIENTS = Gauge("lob_ws_clients", "Connected WebSocket clients", registry=REGISTRY)
DROPPED = Counter(
    "lob_ws_dropped_total", "Clients dropped because their queue overflowed", registry=REGISTRY
)
RELAYED = Counter("lob_ws_relayed_total", "Messages received from Redis", registry=REGISTRY)
RECONNECTS = Counter(
    "lob_relay_reconnects_total", "Relay reconnections to Redis after an error", registry=REGISTRY
)


def _public_promotion(text: str) -> str:
    """A promotion as browsers see it: without `path`, a directory on the server."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict):
        data.pop("path", None)
    return json.dumps(data)


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
        if channel == MODELS_CHANNEL:
            text = _public_promotion(text)
        targets = self.clients if channel == MODELS_CHANNEL else self._by_channel.get(channel)
        if targets:
            for client in tuple(targets):
                client.offer(text)

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
