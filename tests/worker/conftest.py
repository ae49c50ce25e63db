"""A real job stack for worker tests: a database of our own on the session's PostgreSQL, our own
redis-server, the gateway (subprocess), and Celery worker subprocesses started per test.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest

from devstack import seed
from devstack.stack import Service, Stack
from tests.support.jobstack import JOB_ENV, Events, JobStack


@pytest.fixture(scope="session")
def stack_session(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[JobStack, Service]]:
    tmp = tmp_path_factory.mktemp("stack")
    home = tmp / "home"
    home.mkdir()
    seed.dataset(home, "mini", 700, symbol="TEST")
    with Stack(tmp, {"LOB_HOME": str(home), **JOB_ENV}) as dev:
        redis_server = dev.redis()
        dev.database(database_url, prefix="lob_wtest")
        gateway = dev.gateway(ready=True, timeout=60)
        jobs = JobStack(dev, gateway)
        try:
            yield jobs, redis_server
        finally:
            jobs.close()
            gateway.signal(signal.SIGTERM)
            try:
                gateway.proc.wait(20)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the gateway ignored SIGTERM:{gateway.tail()}") from None


@pytest.fixture
def stack(stack_session: tuple[JobStack, Service]) -> Iterator[JobStack]:
    """The session's stack; the workers a test starts are stopped when it ends."""
    s, _ = stack_session
    yield s
    s.stop_workers()


@pytest.fixture
def redis_server(stack_session: tuple[JobStack, Service]) -> Service:
    return stack_session[1]


@pytest.fixture
def events(stack_session: tuple[JobStack, Service]) -> Iterator[Events]:
    recorder = Events(stack_session[1].url)
    yield recorder
    recorder.close()
