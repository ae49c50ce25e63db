"""Feed fixtures: our own redis-server, and a fake Binance (WebSocket + REST on 127.0.0.1) that
replays the recorded depth messages of ../shared/data/binance-spot-btcusdt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.support.feedkit import FakeBinanceServer


@pytest.fixture(scope="session")
def feed_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with Stack(tmp_path_factory.mktemp("feed-redis")) as stack:
        yield stack.redis().url


@pytest.fixture
def clean_redis(feed_redis: str) -> str:
    import redis

    r = redis.Redis.from_url(feed_redis)
    r.flushdb()
    r.close()
    return feed_redis


@pytest.fixture
def fake_binance(sample_data: Path) -> Iterator[Callable[..., FakeBinanceServer]]:
    servers: list[FakeBinanceServer] = []
    capture = sample_data / "binance-spot-btcusdt" / "btcusdt_20240808.gz"

    def start(skip: tuple[int, ...] = (), pace_s: float = 0.0) -> FakeBinanceServer:
        servers.append(FakeBinanceServer(capture, set(skip), pace_s))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
