"""Labels against plain-loop references of docs/ARCHITECTURE.md's definitions, on synthetic and real data."""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from shared.labels import (
    DOWN,
    IGNORE,
    NEUTRAL,
    UP,
    StreamingLabeller,
    StreamingSmoothed,
    StreamingTripleBarrier,
    class_counts,
    ewma_variance,
    make_labels,
    mid_price,
    smoothed,
    streaming_labeller,
    triple_barrier,
)
from shared.train_config import TrainConfig


def ref_triple_barrier(m: list[float], span: int, k: float, h: int, min_return: float) -> list[int]:
    """docs/ARCHITECTURE.md, word for word, one row at a time."""
    n = len(m)
    a = 2.0 / (span + 1)
    v = [0.0] * n
    for t in range(1, n):
        r = math.log(m[t] / m[t - 1])
        v[t] = (1 - a) * v[t - 1] + a * r * r
    out = [IGNORE] * n
    for t in range(n):
        if t < span or t > n - 1 - h:
            continue
        b = max(k * math.sqrt(v[t]) * math.sqrt(h), min_return)
        upper, lower = m[t] * math.exp(b), m[t] * math.exp(-b)
        label = NEUTRAL
        for j in range(1, h + 1):
            if m[t + j] > upper:
                label = UP
                break
            if m[t + j] < lower:
                label = DOWN
                break
        out[t] = label
    return out


def ref_smoothed(m: list[float], k: int, alpha: float) -> list[int]:
    n = len(m)
    out = [IGNORE] * n
    for t in range(n - k):
        total = m[t + 1]
        for i in range(2, k + 1):
            total += m[t + i]
        lt = (total / k - m[t]) / m[t]
        out[t] = UP if lt > alpha else DOWN if lt < -alpha else NEUTRAL
    return out


def tick_walk(n: int, seed: int, p_move: float = 0.5, tick: float = 0.01) -> np.ndarray:
    """Mid prices on a half-tick grid, with runs of no change (as real mids have)."""
    rng = np.random.default_rng(seed)
    moves = rng.choice([-1, 0, 1], size=n, p=[p_move / 2, 1 - p_move, p_move / 2])
    return (20_000 + np.cumsum(moves)) * tick / 2 + 50.0


@pytest.mark.parametrize(
    ("n", "span", "k", "h", "min_return"),
    [
        (6000, 100, 1.0, 100, 0.0),  # defaults
        (3000, 20, 0.5, 10, 0.0),
        (2000, 2, 2.0, 7, 0.0),  # shortest span: a = 2/3
        (2000, 50, 1.0, 128, 0.0),  # horizon a power of two
        (2000, 30, 1.0, 33, 0.0004),  # the min_return floor binds
        (250, 100, 1.0, 100, 0.0),  # only a few labelled rows
        (150, 100, 1.0, 100, 0.0),  # no row has both warm-up and horizon
    ],
)
def test_triple_barrier_matches_plain_loop(n, span, k, h, min_return):
    m = tick_walk(n, seed=n + span)
    got = triple_barrier(m, span=span, k=k, h=h, min_return=min_return)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, ref_triple_barrier(m.tolist(), span, k, h, min_return))
    # IGNORE at both ends exactly: warm-up rows t < span and rows without a full horizon.
    assert (got[:span] == IGNORE).all()
    assert (got[max(span, n - h) :] == IGNORE).all()
    assert (got[span : n - h] != IGNORE).all()


def test_ewma_variance_matches_recursion():
    m = tick_walk(50_000, seed=3)
    r = np.r_[0.0, np.diff(np.log(m))]
    for span in (2, 10, 100, 5000):
        a = 2.0 / (span + 1)
        ref = np.zeros_like(r)
        for t in range(1, r.size):
            ref[t] = (1 - a) * ref[t - 1] + a * r[t] ** 2
        np.testing.assert_allclose(ewma_variance(r * r, a), ref, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize(("k", "alpha"), [(10, 2e-5), (1, 0.0), (50, 1e-4), (300, 2e-5)])
def test_smoothed_matches_plain_loop(k, alpha):
    m = tick_walk(3000, seed=k)
    got = smoothed(m, k=k, alpha=alpha)
    np.testing.assert_array_equal(got, ref_smoothed(m.tolist(), k, alpha))
    assert (got[m.size - k :] == IGNORE).all()
    assert (got[: m.size - k] != IGNORE).all()


def test_mid_price_is_exact_float64():
    feats = np.zeros((3, 40), dtype=np.float32)
    feats[:, 0] = [100.01, 7.5, 61837.64]  # ask_px_1
    feats[:, 2] = [100.00, 7.25, 61837.63]  # bid_px_1
    mid = mid_price(feats)
    assert mid.dtype == np.float64
    np.testing.assert_array_equal(
        mid, (feats[:, 0].astype(np.float64) + feats[:, 2].astype(np.float64)) / 2
    )


def test_make_labels_follows_the_config():
    feats = np.zeros((1200, 40), dtype=np.float32)
    feats[:, 0] = tick_walk(1200, seed=9) + 0.005
    feats[:, 2] = feats[:, 0] - 0.01
    mid = mid_price(feats)
    tb = make_labels(feats, TrainConfig(span=30, k=0.7, h=20))
    np.testing.assert_array_equal(tb, triple_barrier(mid, span=30, k=0.7, h=20))
    sm = make_labels(feats, TrainConfig(labels="smoothed", smooth_k=5, alpha=1e-5))
    np.testing.assert_array_equal(sm, smoothed(mid, k=5, alpha=1e-5))
    counts = class_counts(tb)
    assert sum(counts.values()) == int((tb != IGNORE).sum())


def test_triple_barrier_labels_3_7m_rows_within_budget():
    """docs/ARCHITECTURE.md budget: 3.7M rows, h = 100, ≤ 3 s (measured ≈ 0.3-0.6 s on the 2-core box)."""
    m = tick_walk(3_700_000, seed=1)
    t0 = time.perf_counter()
    labels = triple_barrier(m, span=100, k=1.0, h=100)
    elapsed = time.perf_counter() - t0
    assert elapsed <= 3.0, f"{elapsed:.2f} s"
    assert set(np.unique(labels).tolist()) == {IGNORE, DOWN, NEUTRAL, UP}


# -- real data ------------------------------------------------------------------------------


def lobster_mids(folder: Path) -> np.ndarray:
    book = np.loadtxt(next(folder.glob("*_orderbook_10.csv")), delimiter=",", dtype=np.float64)
    return (book[:, 0] + book[:, 2]) / 2 / 10_000  # ask_px_1, bid_px_1 in USD × 10000


def binance_ticker_mids(folder: Path) -> np.ndarray:
    """Mids from the capture's bookTicker messages (best bid/ask as the exchange reports them)."""
    mids = []
    for path in sorted(folder.glob("*.gz")):
        with gzip.open(path, "rt") as fh:
            for line in fh:
                if "@bookTicker" not in line:
                    continue
                data = json.loads(line.split(" ", 1)[1])["data"]
                mids.append((float(data["a"]) + float(data["b"])) / 2)
    return np.asarray(mids)


@pytest.mark.data
def test_labels_on_lobster_aapl(sample_data):
    m = lobster_mids(sample_data / "lobster-aapl")
    assert m.size > 900
    for span, k, h in ((20, 1.0, 10), (100, 0.5, 100)):
        np.testing.assert_array_equal(
            triple_barrier(m, span=span, k=k, h=h), ref_triple_barrier(m.tolist(), span, k, h, 0.0)
        )
    np.testing.assert_array_equal(smoothed(m, k=10, alpha=2e-5), ref_smoothed(m.tolist(), 10, 2e-5))


@pytest.mark.data
def test_labels_on_binance_btcusdt(sample_data):
    m = binance_ticker_mids(sample_data / "binance-spot-btcusdt")[:20_000]
    assert m.size > 5_000
    got = triple_barrier(m, span=100, k=1.0, h=100)
    np.testing.assert_array_equal(got, ref_triple_barrier(m.tolist(), 100, 1.0, 100, 0.0))
    assert len(set(got[got != IGNORE].tolist())) == 3  # a real market gives every class
    np.testing.assert_array_equal(smoothed(m, k=10, alpha=2e-5), ref_smoothed(m.tolist(), 10, 2e-5))


# -- streaming (live scoring) ---------------------------------------------------------------


def streamed(labeller: StreamingLabeller, m: np.ndarray) -> np.ndarray:
    """Push every mid; each push resolves the row `horizon` back, in order, exactly once."""
    out = np.full(m.size, IGNORE, dtype=np.int8)
    rows = []
    for mid in m.tolist():
        done = labeller.push(mid)
        if done is not None:
            rows.append(done[0])
            out[done[0]] = done[1]
    assert rows == list(range(max(0, m.size - labeller.horizon)))
    return out


@pytest.mark.parametrize(
    ("n", "span", "k", "h", "min_return"),
    [
        (30_000, 100, 1.0, 100, 0.0),  # defaults; the EWMA's second and third blocks
        (5000, 2, 2.0, 7, 0.0),  # a = 2/3: blocks of 182 rows
        (3000, 20, 0.5, 1, 0.0),  # horizon of one row
        (3000, 30, 1.0, 33, 0.0004),  # the min_return floor binds
        (150, 100, 1.0, 100, 0.0),  # nothing labelled
    ],
)
def test_streaming_triple_barrier_is_the_offline_label(n, span, k, h, min_return):
    # given a tick-grid walk, when it is fed one mid at a time
    m = tick_walk(n, seed=n + span)
    labeller = StreamingTripleBarrier(span=span, k=k, h=h, min_return=min_return)
    variances = []
    out = np.full(n, IGNORE, dtype=np.int8)
    for mid in m.tolist():
        done = labeller.push(mid)
        variances.append(labeller.variance)
        if done is not None:
            out[done[0]] = done[1]
    # then the volatility is ewma_variance's, bit for bit, and so is every label
    r = np.zeros(n)
    np.log(m[1:] / m[:-1], out=r[1:])
    np.testing.assert_array_equal(variances, ewma_variance(r * r, 2.0 / (span + 1)))
    np.testing.assert_array_equal(
        out, triple_barrier(m, span=span, k=k, h=h, min_return=min_return)
    )


@pytest.mark.parametrize(("k", "alpha"), [(10, 2e-5), (1, 0.0), (300, 2e-5)])
def test_streaming_smoothed_is_the_offline_label(k, alpha):
    m = tick_walk(3000, seed=k)
    np.testing.assert_array_equal(
        streamed(StreamingSmoothed(k=k, alpha=alpha), m), smoothed(m, k=k, alpha=alpha)
    )


def test_streaming_labeller_follows_the_config():
    feats = np.zeros((800, 40), dtype=np.float32)
    feats[:, 0] = tick_walk(800, seed=4) + 0.005
    feats[:, 2] = feats[:, 0] - 0.01
    for cfg in (TrainConfig(span=30, k=0.7, h=20), TrainConfig(labels="smoothed", smooth_k=5)):
        labeller = streaming_labeller(cfg)
        assert labeller.horizon == cfg.horizon
        np.testing.assert_array_equal(streamed(labeller, mid_price(feats)), make_labels(feats, cfg))


@pytest.mark.data
@pytest.mark.parametrize("source", ["lobster-aapl", "binance-spot-btcusdt"])
def test_streaming_labels_on_real_mids(sample_data, source):
    folder = sample_data / source
    m = lobster_mids(folder) if source == "lobster-aapl" else binance_ticker_mids(folder)[:20_000]
    for span, k, h in ((20, 1.0, 10), (100, 1.0, 100)):
        np.testing.assert_array_equal(
            streamed(StreamingTripleBarrier(span=span, k=k, h=h), m),
            triple_barrier(m, span=span, k=k, h=h),
        )
    np.testing.assert_array_equal(
        streamed(StreamingSmoothed(k=10, alpha=2e-5), m), smoothed(m, k=10, alpha=2e-5)
    )
