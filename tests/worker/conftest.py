"""A real job stack for worker tests: PostgreSQL (a database of our own), our own redis-server,
the gateway under uvicorn (subprocess), and Celery worker subprocesses started per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from jobstack import (
    LEASE_TTL_S,
    TOKEN,
    Events,
    RedisServer,
    Stack,
    create_database,
    drop_database,
    synthetic_dataset,
    wait_for,
)

from shared.embedded import free_port


@pytest.fixture(scope="session")
def stack_session(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, RedisServer]]:
    tmp = tmp_path_factory.mktemp("stack")
    redis_server = RedisServer(tmp / "redis")
    home = tmp / "home"
    home.mkdir()
    synthetic_dataset(home, "mini", rows=700)
    db_url = create_database(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_server.url,
        "LOB_HOME": str(home),
        "LOB_API_TOKEN": TOKEN,
        "LOB_LEASE_TTL_S": str(LEASE_TTL_S),
        "LOB_REAPER_INTERVAL_S": "0.5",
        "LOB_REDISPATCH_AFTER_S": "3",
        "PYTHONUNBUFFERED": "1",
    }
    port = free_port()
    gateway_log = tmp / "gateway.log"
    gateway = subprocess.Popen(
        [sys.executable, "-m", "services.api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=gateway_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert gateway.poll() is None, gateway_log.read_text()
        try:
            return httpx.get(f"{api}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 60, "the gateway to be ready")
    stack = Stack(env, home, db_url, api, tmp)
    try:
        yield stack, redis_server
    finally:
        stack.stop_workers()
        gateway.terminate()
        try:
            gateway.wait(20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            log = gateway_log.read_text()[-2000:]
            raise AssertionError(f"the gateway ignored SIGTERM:\n{log}") from None
        finally:
            stack.engine.dispose()
            redis_server.stop()
            drop_database(db_url)


@pytest.fixture
def stack(stack_session: tuple[Stack, RedisServer]) -> Iterator[Stack]:
    """The session's stack; the workers a test starts are stopped when it ends."""
    s, _ = stack_session
    yield s
    s.stop_workers()


@pytest.fixture
def redis_server(stack_session: tuple[Stack, RedisServer]) -> RedisServer:
    return stack_session[1]


@pytest.fixture
def events(stack_session: tuple[Stack, RedisServer]) -> Iterator[Events]:
    recorder = Events(stack_session[1].url)
    yield recorder
    recorder.close()
