"""Gateway fixtures: the real app, served by a real uvicorn on a free port (in a thread), against
real PostgreSQL and an embedded redis-server of our own. Tests with workers live in tests/worker.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from shared import embedded
from shared.config import Settings, get_settings
from shared.data.store import write_dataset
from shared.embedded import free_port

TOKEN = "test-token-" + secrets.token_hex(8)


def synthetic_dataset(home: Path, name: str, rows: int = 3_000, seed: int = 0) -> None:
    """A random-walk order book: enough structure for labels, nothing else."""
    rng = np.random.default_rng(seed)
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, rows)))
    levels = np.arange(1, 11)
    feats = np.empty((rows, 40), dtype=np.float32)
    feats[:, 0::4] = mid[:, None] + 0.01 * levels  # ask px
    feats[:, 1::4] = rng.uniform(1, 5, (rows, 10))  # ask sz
    feats[:, 2::4] = mid[:, None] - 0.01 * levels  # bid px
    feats[:, 3::4] = rng.uniform(1, 5, (rows, 10))  # bid sz
    ts = (1_700_000_000 * 10**9 + np.arange(rows) * 100_000_000).astype(np.int64)
    write_dataset(name, ts=ts, features=feats, symbols=["TEST"], home=home)


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
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="session")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Our own redis-server: queues and keys isolated from every other test run on the machine."""
    url, proc = embedded.start_redis(tmp_path_factory.mktemp("api-redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("api-home")
    synthetic_dataset(home, "tiny")
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
