"""Binance depth data into `lob:snapshots`: recorded captures and the live public stream.

Both use the importer's book builder (shared.data.binance_book: BinanceBook + DepthSync) and so
the exchange's sync rules: buffer diffs, fetch a REST snapshot, drop diffs with
u <= lastUpdateId, start at the one with U <= lastUpdateId + 1 <= u, then require
U == previous u + 1; anything else is a gap, which makes us fetch a new snapshot (a resync).
Snapshots are stamped with the event time E, like imported datasets.

The live connector talks to `{ws_url}/stream?streams=<symbol>@depth@100ms` and
`{rest_url}/api/v3/depth?symbol=<SYMBOL>&limit=1000`; both bases are options, so tests point
them at a local server replaying recorded messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from shared.data.binance_book import Applied, BinanceBook, DepthSync
from shared.errors import DataError
from shared.feed.snapshot import normalize_symbol
from shared.feed.stream import Record, StreamWriter

log = logging.getLogger("lob.feed")

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
SNAPSHOT_RETRY_S = 0.5  # a snapshot older than the buffered diffs: ask again shortly


def capture_records(paths: list[Path], symbol: str | None) -> Iterator[Record]:
    """Replay source: the rows the importer would make from these capture files, in order."""
    from shared.data.binance_capture import read_captures

    name = normalize_symbol(symbol) if symbol else None
    for block in read_captures(paths, symbol=name):
        sym = name or normalize_symbol(block.symbols[0])
        features = block.features.astype(np.float64)
        for i in range(len(block)):
            yield int(block.ts[i]), sym, features[i]


class BinanceFeed:
    """One symbol's live depth stream, kept in sync, written to the Redis stream."""

    def __init__(
        self,
        symbol: str,
        writer: StreamWriter,
        *,
        ws_url: str = "wss://stream.binance.com:9443",
        rest_url: str = "https://api.binance.com",
        depth_limit: int = 1000,
        limit: int | None = None,
    ) -> None:
        self.symbol = normalize_symbol(symbol)
        self.writer = writer
        self.stream_url = f"{ws_url.rstrip('/')}/stream?streams={self.symbol.lower()}@depth@100ms"
        self.depth_url = f"{rest_url.rstrip('/')}/api/v3/depth"
        self.depth_limit = depth_limit
        self.limit = limit
        self.sent = 0
        self.resyncs = 0
        self.gaps = 0
        self._stop = asyncio.Event()
        self._stale_snapshot = False

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Stream until stopped (or `limit` snapshots), reconnecting with backoff on errors."""
        import httpx
        from websockets.exceptions import WebSocketException

        attempt = 0
        while not self._done():
            try:
                await self._session()
                attempt = 0
            except (OSError, WebSocketException, httpx.HTTPError, DataError) as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                log.warning("binance stream error (%s); reconnecting in %.1f s", exc, delay)
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    def _done(self) -> bool:
        return self._stop.is_set() or (self.limit is not None and self.sent >= self.limit)

    async def _session(self) -> None:
        import httpx
        from websockets.asyncio.client import connect

        sync = DepthSync(BinanceBook(self.symbol, "spot"))
        async with (
            connect(self.stream_url, max_size=2**22, open_timeout=10) as ws,
            httpx.AsyncClient(timeout=10) as http,
        ):
            log.info("connected to %s", self.stream_url)
            snapshot: asyncio.Task[dict[str, Any]] | None = None
            receive: asyncio.Task[str | bytes] | None = None
            stopping = asyncio.create_task(self._stop.wait())
            try:
                while not self._done():
                    # One receive in flight at a time, never cancelled mid-way: a diff is
                    # either handled or still waiting, never dropped.
                    receive = receive or asyncio.create_task(ws.recv())
                    waiting = {receive, stopping} | ({snapshot} if snapshot else set())
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if snapshot is not None and snapshot in done:
                        await self._on_snapshot(sync, snapshot.result())
                        snapshot = None
                    if receive in done:
                        raw, receive = receive.result(), None
                        await self._on_message(sync, raw)
                    if sync.needs_snapshot and snapshot is None and not self._done():
                        snapshot = asyncio.create_task(self._fetch_snapshot(http))
            finally:
                for task in (stopping, snapshot, receive):
                    if task is not None:
                        task.cancel()

    async def _on_message(self, sync: DepthSync, raw: str | bytes) -> None:
        msg = json.loads(raw)
        data = msg.get("data", msg) if isinstance(msg, dict) else None
        if not isinstance(data, dict) or data.get("e") != "depthUpdate":
            return
        gaps = sync.gaps
        applied = sync.on_diff(data)
        if sync.gaps != gaps:
            self.gaps += 1
            log.warning(
                "sequence gap at U=%s u=%s (book at %s): resyncing",
                data.get("U"),
                data.get("u"),
                sync.book.last_update_id,
            )
        await self._send(applied)

    async def _fetch_snapshot(self, http: Any) -> dict[str, Any]:
        if self._stale_snapshot:
            await asyncio.sleep(SNAPSHOT_RETRY_S)
        resp = await http.get(
            self.depth_url, params={"symbol": self.symbol, "limit": self.depth_limit}
        )
        resp.raise_for_status()
        data = resp.json()
        if not isinstance(data, dict):
            raise DataError("depth snapshot is not a JSON object")
        return data

    async def _on_snapshot(self, sync: DepthSync, snapshot: dict[str, Any]) -> None:
        had_book = sync.book.last_update_id is not None
        resyncs = sync.resyncs
        applied = sync.on_snapshot(snapshot)
        # Still out of sync: the snapshot is older than the diffs we hold; the next fetch waits.
        self._stale_snapshot = sync.needs_snapshot
        if sync.resyncs != resyncs:
            self.resyncs += 1
            log.info("resynced at update id %s", sync.book.last_update_id)
        elif not had_book:
            log.info("book synced at update id %s", snapshot.get("lastUpdateId"))
        await self._send(applied)

    async def _send(self, applied: list[Applied]) -> None:
        records = [(ev.ts_ns, self.symbol, ev.top) for ev in applied if not np.isnan(ev.top).any()]
        if self.limit is not None:
            records = records[: max(0, self.limit - self.sent)]
        if records:
            # The writer blocks while Redis is away; keep the WebSocket's loop responsive.
            await asyncio.to_thread(self.writer.send, records)
            self.sent += len(records)
