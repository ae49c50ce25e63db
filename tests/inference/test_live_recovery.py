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
from pathlib import Path
from subprocess import Popen

import pytest
import redis
from livekit import (
    SYN_ROWS,
    Proc,
    WsClient,
    feed_argv,
    http_json,
    make_run,
    promote,
    spawn,
    start_gateway,
    start_inference,
    wait_for,
    write_syn,
)

from shared import embedded
from shared.data.schema import WINDOW

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    base: Path
    env: dict[str, str]
    redis_url: str
    redis_port: int
    redis_proc: Popen[bytes]
    inference: Proc
    gateway: Proc

    def restart_redis(self) -> None:
        self.redis_proc.terminate()
        self.redis_proc.wait(10)
        _, self.redis_proc = embedded.start_redis(self.base / "redis", port=self.redis_port)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("recovery")
    home = base / "home"
    home.mkdir()
    port = embedded.free_port()
    url, redis_proc = embedded.start_redis(base / "redis", port=port)
    write_syn(home, "syn", SYN_ROWS, step_ns=10_000_000)
    promote(home, make_run(home, "run-good", seed=0), None, 1)
    env = {
        "LOB_HOME": str(home),
        "REDIS_URL": url,
        "DATABASE_URL": database_url,
        "LOB_API_TOKEN": "live-" + secrets.token_hex(8),
    }
    s = Stack(
        base, env, url, port, redis_proc, start_inference(env, base), start_gateway(env, base)
    )
    try:
        yield s
    finally:
        s.gateway.stop()
        s.inference.stop()
        s.redis_proc.terminate()
        s.redis_proc.wait(10)


def test_inference_sigkill_resumes_without_loss_or_duplicates(stack: Stack) -> None:
    client = WsClient(f"ws://127.0.0.1:{stack.gateway.port}/ws/model-test-kill")

    async def main() -> None:
        reading = asyncio.create_task(
            client.run([{"subscribe": ["KILL"]}], lambda got: len(got.predictions) >= SYN_ROWS, 120)
        )
        await asyncio.sleep(0.3)
        feed = spawn(
            "feed-kill",
            feed_argv("replay", "syn", "--speed", "2", "--symbol", "KILL"),
            stack.env,
            stack.base,
            0,
        )
        while len(client.got.predictions) < 3 * WINDOW:
            await asyncio.sleep(0.02)
        # when inference is killed mid-stream and started again
        stack.inference.proc.send_signal(signal.SIGKILL)
        stack.inference.proc.wait(10)
        stack.inference = await asyncio.to_thread(start_inference, stack.env, stack.base)
        await reading
        feed.proc.wait(60)

    asyncio.run(main())
    got = client.got
    # then every snapshot was published exactly once, and the window did not warm up again
    assert got.seqs("KILL") == list(range(1, SYN_ROWS + 1))
    statuses = [p["status"] for p in got.predictions]
    assert statuses[WINDOW - 1 :] == ["ok"] * (SYN_ROWS - WINDOW + 1)


def test_redis_restart_mid_stream_recovers_by_itself(stack: Stack) -> None:
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
        feed = spawn(
            "feed-restart",
            feed_argv("replay", "syn", "--speed", "1", "--loop", "--symbol", "RESTART"),
            stack.env,
            stack.base,
            0,
        )
        try:
            await wait_count(2 * WINDOW, 60)
            # when Redis goes away for a second and comes back empty (no persistence)
            await asyncio.to_thread(stack.redis_proc.terminate)
            await asyncio.to_thread(stack.redis_proc.wait, 10)
            before = len(client.got.predictions)
            await asyncio.sleep(1.0)
            marks["restarted"] = time.monotonic()
            await asyncio.to_thread(stack.restart_redis)
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
    wait_for(
        lambda: http_json(f"http://127.0.0.1:{stack.inference.port}/healthz")[0] == 200,
        10,
        "inference healthy",
    )
    with contextlib.closing(redis.Redis.from_url(stack.redis_url)) as r:
        status = wait_for(lambda: r.get("lob:inference:status"), 10, "status key")
    assert json.loads(status)["model_version"] == "run-good/fold5"
