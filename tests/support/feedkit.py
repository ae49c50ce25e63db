"""A fake Binance for the connector tests: WebSocket + REST on 127.0.0.1, replaying recorded
depth messages of ../shared/data/binance-spot-btcusdt, with an exchange-side book for snapshots."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def read_capture(path: Path) -> tuple[list[str], dict[str, Any]]:
    """(depth messages as sent on the combined stream, the recorded REST snapshot)."""
    depth: list[str] = []
    snapshot: dict[str, Any] | None = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, _, body = line.strip().partition(" ")
            if '"depthUpdate"' in body:
                depth.append(body)
            elif '"lastUpdateId"' in body and snapshot is None:
                snapshot = json.loads(body)
    assert snapshot is not None
    return depth, snapshot


@dataclass
class Exchange:
    """The exchange's own book: the recorded snapshot plus every diff released since."""

    snapshot: dict[str, Any]
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    last_id: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    snapshot_served: threading.Event = field(default_factory=threading.Event)
    requests: int = 0

    def __post_init__(self) -> None:
        self.bids = {p: q for p, q in self.snapshot["bids"]}
        self.asks = {p: q for p, q in self.snapshot["asks"]}
        self.last_id = int(self.snapshot["lastUpdateId"])

    def release(self, data: dict[str, Any]) -> None:
        """A diff happened on the exchange (whether or not a client receives it)."""
        with self.lock:
            if data["u"] <= self.last_id:
                return
            for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
                for price, qty in levels:
                    if float(qty) == 0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
            self.last_id = data["u"]

    def depth(self, limit: int) -> dict[str, Any]:
        with self.lock:
            self.requests += 1
            bids = sorted(self.bids.items(), key=lambda kv: -float(kv[0]))[:limit]
            asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))[:limit]
            out = {
                "lastUpdateId": self.last_id,
                "bids": [list(kv) for kv in bids],
                "asks": [list(kv) for kv in asks],
            }
        self.snapshot_served.set()
        return out


def _serve_rest(exchange: Exchange) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/api/v3/depth":
                self.send_response(404)
                self.end_headers()
                return
            params = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
            body = json.dumps(exchange.depth(int(params.get("limit", "1000")))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeBinanceServer:
    """Replays file 1's depth diffs on /stream, and the exchange's book on /api/v3/depth.

    `skip`: indices of diffs lost on the way to the first client (a gap); `pace_s`: pause between
    messages (0: as fast as the socket takes them).
    """

    def __init__(self, capture: Path, skip: set[int], pace_s: float) -> None:
        from websockets.asyncio.server import serve

        self.messages, snapshot = read_capture(capture)
        first_after = next(
            i
            for i, m in enumerate(self.messages)
            if json.loads(m)["data"]["u"] > snapshot["lastUpdateId"]
        )
        self.exchange = exchange = Exchange(snapshot)
        self.sent: list[int] = []  # messages sent, per connection
        self.rest = _serve_rest(exchange)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        ws_port: list[int] = []
        messages, sent = self.messages, self.sent

        async def stream(ws: Any) -> None:
            assert ws.request.path.startswith("/stream?streams=btcusdt@depth")
            sent.append(0)
            first_client = len(sent) == 1
            for i, text in enumerate(messages):
                data = json.loads(text)["data"]
                if i == first_after:
                    # Like the real exchange at that moment: later diffs only once the client
                    # has its snapshot, so the snapshot it gets is the recorded one.
                    while not exchange.snapshot_served.is_set():
                        await asyncio.sleep(0.005)
                exchange.release(data)
                if first_client and i in skip:
                    continue  # lost on the way to this client
                await ws.send(text)
                sent[-1] += 1
                if pace_s:
                    await asyncio.sleep(pace_s)
                elif i % 50 == 0:
                    await asyncio.sleep(0)
            await ws.wait_closed()

        async def main() -> None:
            self.stopped = asyncio.Event()
            async with serve(stream, "127.0.0.1", 0) as server:
                ws_port.append(server.sockets[0].getsockname()[1])
                ready.set()
                await self.stopped.wait()
                server.close()
                await server.wait_closed()

        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(main(),), daemon=True
        )
        self.thread.start()
        assert ready.wait(10), "fake Binance did not start"
        self.ws_url = f"ws://127.0.0.1:{ws_port[0]}"
        self.rest_url = f"http://127.0.0.1:{self.rest.server_address[1]}"

    def close(self) -> None:
        self.rest.shutdown()
        self.rest.server_close()
        self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(10)
        self.loop.close()
