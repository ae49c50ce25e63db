"""`lob feed binance` end to end against a local fake Binance replaying the recorded messages.

The real connector code path (WebSocket stream, REST snapshot, book builder, sync rules, resync
on a gap, Redis stream); only the two base URLs point at 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis

from shared.data.binance_capture import read_captures
from shared.events import SNAPSHOT_STREAM
from shared.feed.snapshot import decode
from tests.support.feedkit import FakeBinanceServer

pytestmark = [pytest.mark.slow, pytest.mark.data]


def offline_books(sample_data: Path) -> np.ndarray:
    """What the importer rebuilds from the same capture file: the expected books, in order."""
    capture = sample_data / "binance-spot-btcusdt" / "btcusdt_20240808.gz"
    return np.concatenate([b.features for b in read_captures([capture])])


def stream_books(url: str) -> tuple[list[str], np.ndarray]:
    r = redis.Redis.from_url(url)
    entries = r.xrange(SNAPSHOT_STREAM)
    r.close()
    snaps = [decode(fields) for _, fields in entries]
    books = np.array([s.book for s in snaps]).reshape(-1, 40)
    return [s.symbol for s in snaps], books


def connector(fake: FakeBinanceServer, url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shared.cli.main",
            "feed",
            "binance",
            "--symbol",
            "btcusdt",
            "--ws-url",
            fake.ws_url,
            "--rest-url",
            fake.rest_url,
            *extra,
        ],
        env={**os.environ, "REDIS_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_live_connector_rebuilds_the_same_books_as_the_importer(
    sample_data: Path, clean_redis: str, fake_binance: Callable[..., FakeBinanceServer]
) -> None:
    # given the exchange replaying the capture, and the importer's books for it
    fake = fake_binance()
    want = offline_books(sample_data)
    # when the connector runs until it has sent as many snapshots
    proc = connector(fake, clean_redis, "--limit", str(len(want)))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    # then the stream holds exactly those books, in order
    symbols, got = stream_books(clean_redis)
    assert set(symbols) == {"BTCUSDT"}
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.astype(np.float32), want)
    assert fake.exchange.requests == 1, "one REST snapshot, no resync"
    assert "0 resync" in out


def test_a_gap_makes_the_connector_resync_from_a_fresh_snapshot(
    sample_data: Path, clean_redis: str, fake_binance: Callable[..., FakeBinanceServer]
) -> None:
    # given a diff lost early on the way to the connector
    fake = fake_binance(skip=(300,), pace_s=0.0005)
    want = offline_books(sample_data)
    proc = connector(fake, clean_redis)
    try:
        # when the stream runs to its end
        deadline = time.monotonic() + 120
        while True:
            _, got = stream_books(clean_redis)
            if len(got) and np.array_equal(got[-1].astype(np.float32), want[-1]):
                break
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, f"stream stuck at {len(got)} of {len(want)}"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # then it noticed the gap, fetched a second snapshot, and is exact again afterwards
    assert "sequence gap" in out and "1 resync" in out, out
    assert fake.exchange.requests == 2
    assert fake.sent == [len(fake.messages) - 1], "one connection: a resync, not a reconnect"
    missing = len(want) - len(got)
    assert 1 <= missing < 150, "only the books between the gap and the snapshot are missing"
    np.testing.assert_array_equal(got[:290].astype(np.float32), want[:290])
    np.testing.assert_array_equal(got[-1000:].astype(np.float32), want[-1000:])
