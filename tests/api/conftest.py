"""Gateway fixtures: the real app, served by a real uvicorn on a free port (in a thread), against
real PostgreSQL and an embedded redis-server of our own. Tests with workers live in tests/worker.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from devstack import seed
from devstack.stack import Stack, wait_until
from shared.config import Settings, get_settings
from shared.embedded import free_port

TOKEN = "test-token-" + secrets.token_hex(8)


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[httpx.Client]:
    """create_app(settings) under a real uvicorn on 127.0.0.1; an httpx client pointed at it."""
    from services.api.main import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 20, "uvicorn", every=0.01)
    assert server.started, "uvicorn did not start"
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Our own redis-server: queues and keys isolated from every other test run on the machine."""
    with Stack(tmp_path_factory.mktemp("api-redis")) as stack:
        yield stack.redis().url


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("api-home")
    seed.dataset(home, "tiny", 3_000, symbol="TEST")
    return home


@pytest.fixture(scope="session")
def api_settings(database_url: str, own_redis: str, api_home: Path) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=own_redis,
        LOB_HOME=api_home,
        LOB_API_TOKEN=TOKEN,
        LOB_SIGNIN_PER_MINUTE=1000,
    )


@pytest.fixture(scope="session")
def serve_app():
    """serve(settings): a context manager serving another configuration of the app."""
    return serve


@pytest.fixture
def api(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """The gateway serving over HTTP; the environment matches its settings."""
    for key, value in (
        ("DATABASE_URL", api_settings.database_url),
        ("REDIS_URL", api_settings.redis_url),
        ("LOB_HOME", str(api_settings.lob_home)),
        ("LOB_API_TOKEN", TOKEN),
    ):
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    with serve(api_settings) as client:
        yield client
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def token() -> str:
    return TOKEN


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
