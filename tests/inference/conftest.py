"""The live stack for these tests: our own redis-server, a LOB_HOME with a promoted model and a
synthetic dataset, the inference service and the gateway as real subprocesses."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from livekit import (
    SYN_ROWS,
    LiveStack,
    make_run,
    promote,
    start_gateway,
    start_inference,
    write_syn,
)

from shared import embedded


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[LiveStack]:
    base = tmp_path_factory.mktemp("live")
    home = base / "home"
    home.mkdir()
    url, redis_proc = embedded.start_redis(base / "redis")
    syn = write_syn(home, "syn", SYN_ROWS, step_ns=10_000_000)  # 100 snapshots/s recorded
    good = make_run(home, "run-good", seed=0)
    promote(home, good, None, 1)
    env = {
        "LOB_HOME": str(home),
        "REDIS_URL": url,
        "DATABASE_URL": database_url,
        "LOB_API_TOKEN": "live-" + secrets.token_hex(8),
        # Small per-client queue so the slow-client test overflows it quickly.
        "LOB_WS_QUEUE": "128",
    }
    inference = start_inference(env, base)
    try:
        gateway = start_gateway(env, base)
    except BaseException:
        inference.stop()
        raise
    stack = LiveStack(home, url, env, base, inference, gateway, good, syn)
    try:
        yield stack
    finally:
        gateway.stop()
        inference.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
