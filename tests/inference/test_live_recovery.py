"""Faults on the live path: inference SIGKILLed mid-stream, Redis restarted mid-stream.

A stack of its own (redis-server, inference, gateway as subprocesses), so restarting Redis here
disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from devstack import seed
from devstack.stack import Service, Stack, wait_until
from shared.data.schema import WINDOW
from tests.support.livekit import SYN_ROWS, SYN_STEP_NS, WsClient, http_json

pytestmark = pytest.mark.slow


@dataclass
class Recovery:
    dev: Stack
    redis: Service
    inference: Service
    gateway: Service

    def feed(self, name: str, *args: str) -> Service:
        return self.dev.feed("replay", "syn", *args, name=name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Recovery]:
    base = tmp_path_factory.mktemp("recovery")
    home = base / "home"
    home.mkdir()
    seed.dataset(home, "syn", SYN_ROWS, symbol="SYN", step_ns=SYN_STEP_NS)
    seed.point_active(home, seed.servable_run(home, "run-good", seed=0), 1)
    env = {
        "LOB_HOME": str(home),
        "DATABASE_URL": database_url,
        "LOB_API_TOKEN": "live-" + secrets.token_hex(8),
    }
    with Stack(base, env) as dev:
        redis_server = dev.redis()
        inference = dev.inference(start_id="0", timeout=60)
        yield Recovery(dev, redis_server, inference, dev.gateway(log_level="warning", timeout=60))


def test_inference_sigkill_resumes_without_loss_or_duplicates(stack: Recovery) -> None:
    client = WsClient(f"ws://127.0.0.1:{stack.gateway.port}/ws/model-test-kill")

    async def main() -> None:
        reading = asyncio.create_task(
            client.run([{"subscribe": ["KILL"]}], lambda got: len(got.predictions) >= SYN_ROWS, 120)
        )
        await asyncio.sleep(0.3)
        feed = stack.feed("feed-kill", "--speed", "2", "--symbol", "KILL")
        while len(client.got.predictions) < 3 * WINDOW:
            await asyncio.sleep(0.02)
        # when inference is killed mid-stream and started again
        stack.inference.proc.send_signal(signal.SIGKILL)
        stack.inference.proc.wait(10)
        await asyncio.to_thread(stack.inference.restart, 60)
        await reading
        feed.proc.wait(60)

    asyncio.run(main())
    got = client.got
    # then every snapshot was published exactly once, and the window did not warm up again
    assert got.seqs("KILL") == list(range(1, SYN_ROWS + 1))
    statuses = [p["status"] for p in got.predictions]
    assert statuses[WINDOW - 1 :] == ["ok"] * (SYN_ROWS - WINDOW + 1)


def test_redis_restart_mid_stream_recovers_by_itself(stack: Recovery) -> None:
    client = WsClient(f"ws://127.0.0.1:{stack.gateway.port}/ws/model-test-restart")
    marks: dict[str, float] = {}

    async def main() -> None:
        async def wait_count(n: int, timeout: float) -> None:
            async with asyncio.timeout(timeout):
                while len(client.got.predictions) < n:
                    await asyncio.sleep(0.02)

        reading = asyncio.create_task(
            client.run([{"subscribe": ["RESTART"]}], lambda got: False, 120)
        )
        await asyncio.sleep(0.3)
        feed = stack.feed("feed-restart", "--speed", "1", "--loop", "--symbol", "RESTART")
        try:
            await wait_count(2 * WINDOW, 60)
            # when Redis goes away for a second and comes back empty (no persistence)
            await asyncio.to_thread(stack.redis.stop)
            before = len(client.got.predictions)
            await asyncio.sleep(1.0)
            marks["restarted"] = time.monotonic()
            await asyncio.to_thread(lambda: stack.redis.start().wait_healthy())
            # then predictions reach the same open socket again, within 10 s
            await wait_count(before + 50, 10)
            marks["flowing"] = time.monotonic()
            assert not reading.done(), "the client socket stayed open"
        finally:
            feed.stop()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    asyncio.run(main())
    seqs = client.got.seqs("RESTART")
    assert seqs == sorted(set(seqs)), "no prediction is published twice"
    assert client.got.close_code is None
    assert client.got.predictions[-1]["status"] == "ok", "windows survived the outage"
    assert marks["flowing"] - marks["restarted"] < 10
    # and inference reports itself healthy, with its status key written again
    wait_until(
        lambda: http_json(f"http://127.0.0.1:{stack.inference.port}/healthz")[0] == 200,
        10,
        "inference healthy",
    )
    with contextlib.closing(redis.Redis.from_url(stack.redis.url)) as r:
        status = wait_until(lambda: r.get("lob:inference:status"), 10, "status key")
    assert json.loads(status)["model_version"] == "run-good/fold5"
