"""A synthetic limit-order-book market with a planted, learnable signal.

lob data synth --rows 200000 --name demo --seed 7

How it is made (vectorised numpy, in fixed chunks of CHUNK rows so any length fits in memory and
the first N rows never depend on how many are asked for):

- a hidden order-flow pressure s_t in (-1, 1): tanh of an AR(1) process with a correlation time of
  about 1/(1 - PHI) = 200 rows;
- the best bid moves on a 0.01 tick grid: each row it moves one tick with probability P_MOVE, up
  with probability (1 + BETA * s_t) / 2, so s_t predicts the next ~100 rows' mid moves;
- the spread is 1 tick most of the time, sometimes 2 or 3 (never less than 1); deeper levels
  sit 1-3 ticks apart;
- sizes are heavy-tailed (Lomax / Pareto II, tail index 1.5, as queue sizes are in real books),
  and levels 1-3 lean with the pressure: bid sizes scale by exp(+GAMMA * s_t), ask sizes by
  exp(-GAMMA * s_t). The visible level-1..3 size imbalance is therefore a noisy reading of s_t;
  a model that averages it over its 100-row window can predict the mid, a majority-class guess
  cannot;
- timestamps advance by exponential gaps of mean 50 ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.data.schema import CANONICAL_COLUMNS, FEATURE_COLUMNS, LEVELS, N_FEATURES

CHUNK = 1 << 15  # small enough that a 20-row call is cheap, large enough to vectorise well
TICK = 0.01
START_TICKS = 10_000  # 100.00
START_TS = 1_704_205_800_000_000_000  # 2024-01-02 14:30:00 UTC
MEAN_GAP_NS = 50_000_000
PHI = 0.995  # AR(1) coefficient of the hidden pressure
SIGMA = 0.1  # AR(1) innovation scale: stationary sd 0.1 / sqrt(1 - 0.995**2) ~ 1.0
P_MOVE = 0.25
BETA = 0.35
GAMMA = 0.8
# 1, 2 or 3 ticks, drawn by inverse CDF: P = (0.85, 0.12, 0.03) for the spread,
# (0.80, 0.15, 0.05) between deeper levels.
SPREAD_CDF = (0.85, 0.97)
GAP_CDF = (0.80, 0.95)
SIZE_SCALE = np.linspace(100.0, 400.0, LEVELS)  # deeper queues are larger on average
SIZE_TAIL = 1.5
SIZE_CAP = 5_000_000.0
AR_BLOCK = 256


def _ar1(eps: np.ndarray, phi: float, carry: float) -> tuple[np.ndarray, float]:
    """x_t = phi * x_{t-1} + eps_t, vectorised in blocks of AR_BLOCK rows.

    Within a block x_k = phi^(k+1) c + phi^k * cumsum(eps_j phi^-j); phi^-255 ~ 3.6 keeps that
    well-conditioned. The carries between blocks are a short scalar loop (len / AR_BLOCK steps).
    """
    n = eps.shape[0]
    nb = n // AR_BLOCK
    assert nb * AR_BLOCK == n
    k = np.arange(AR_BLOCK)
    e = eps.reshape(nb, AR_BLOCK)
    inner = np.cumsum(e * phi ** (-k), axis=1) * phi**k
    carries = np.empty(nb)
    decay = phi**AR_BLOCK
    c = carry
    ends = inner[:, -1]
    for b in range(nb):
        carries[b] = c
        c = decay * c + ends[b]
    x = inner + np.outer(carries, phi ** (k + 1))
    return x.reshape(n), float(x[-1, -1])


def _one_two_three(u: np.ndarray, cdf: tuple[float, float]) -> np.ndarray:
    return 1 + (u >= cdf[0]).astype(np.int64) + (u >= cdf[1])


@dataclass(frozen=True)
class Market:
    """How strong and how lasting the planted signal is (the module docstring's constants)."""

    drift: float = BETA  # P(up move) = (1 + drift * s_t) / 2
    tilt: float = GAMMA  # sizes at the lean levels scale by exp(±tilt * s_t)
    memory: float = PHI  # AR(1) coefficient: the pressure lasts about 1 / (1 - memory) rows


DEFAULT = Market()
# `lob bench quality`'s market: a strong pressure that lasts only ~50 rows and leans the book only
# a little at each row, so one snapshot is a poor reading of it and a model that reads the whole
# 100-row window of the book has something to gain over hand-made features of the last row.
PLANTED = Market(drift=1.0, tilt=0.25, memory=0.98)

# Book levels (1-based, inclusive) whose sizes lean with the pressure. The default (1-3) is the
# demo's market; `lob bench quality` plants the signal at 3-5, where level-1 imbalance cannot see it.
LEAN_LEVELS = (1, 3)


def synth_chunks(
    rows: int, seed: int, lean: tuple[int, int] = LEAN_LEVELS, market: Market = DEFAULT
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ts int64 (n,), features float32 (n, 40)) chunks totalling `rows` rows."""
    for ts, features, _ in _chunks(rows, seed, lean, market):
        yield ts, features


def synth_pressure(rows: int, seed: int, market: Market = DEFAULT) -> np.ndarray:
    """The hidden pressure s_t (float64 (rows,)) behind synth_market(rows, seed, market=market):
    what an oracle would know. It does not depend on the lean levels."""
    return np.concatenate([s for _, _, s in _chunks(rows, seed, LEAN_LEVELS, market)])


def _chunks(
    rows: int, seed: int, lean: tuple[int, int], market: Market
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    first, last = lean
    if not 1 <= first <= last <= LEVELS:
        raise ValueError(f"lean levels must lie within 1..{LEVELS}, got {first}-{last}")
    if rows <= 0:
        raise ValueError("rows must be positive")
    if not (0 <= market.drift <= 1 and market.tilt >= 0 and 0 <= market.memory < 1):
        raise ValueError(f"market needs 0 <= drift <= 1, tilt >= 0, 0 <= memory < 1: {market}")
    # Innovations scaled so that the AR(1) state's stationary sd is ~1 whatever its memory.
    sigma = SIGMA * np.sqrt((1.0 - market.memory**2) / (1.0 - PHI**2))
    rng = np.random.default_rng(seed)
    pressure_state = 0.0
    bid_ticks = START_TICKS
    last_ts = START_TS
    done = 0
    while done < rows:
        n = CHUNK  # always a full chunk, so the first N rows never depend on `rows`
        x, pressure_state = _ar1(rng.standard_normal(n) * sigma, market.memory, pressure_state)
        s = np.tanh(x)

        moves = rng.random(n) < P_MOVE
        up = rng.random(n) < (1.0 + market.drift * s) / 2.0
        steps = np.where(moves, np.where(up, 1, -1), 0)
        bid = bid_ticks + np.cumsum(steps)
        bid_ticks = int(bid[-1])
        spread = _one_two_three(rng.random(n, dtype=np.float32), SPREAD_CDF)
        ask = bid + spread

        gaps = _one_two_three(rng.random((n, 2, LEVELS - 1), dtype=np.float32), GAP_CDF)
        ask_px = np.empty((n, LEVELS), dtype=np.int64)
        bid_px = np.empty((n, LEVELS), dtype=np.int64)
        ask_px[:, 0] = ask
        bid_px[:, 0] = bid
        ask_px[:, 1:] = ask[:, None] + np.cumsum(gaps[:, 0], axis=1)
        bid_px[:, 1:] = bid[:, None] - np.cumsum(gaps[:, 1], axis=1)

        # Pareto with x_m = 1 by inverse CDF, (1 - U)^(-1/tail); float32 halves the work.
        u = rng.random((n, 2, LEVELS), dtype=np.float32)
        sizes = (1.0 - u) ** np.float32(-1.0 / SIZE_TAIL) * SIZE_SCALE.astype(np.float32)
        tilt = np.exp(market.tilt * s)[:, None]
        sizes[:, 0, first - 1 : last] /= tilt  # asks thin out under buying pressure
        sizes[:, 1, first - 1 : last] *= tilt
        sizes = np.minimum(np.rint(sizes), SIZE_CAP)

        features = np.empty((n, N_FEATURES), dtype=np.float32)
        features[:, 0::4] = ask_px * TICK
        features[:, 1::4] = sizes[:, 0]
        features[:, 2::4] = bid_px * TICK
        features[:, 3::4] = sizes[:, 1]

        gaps_ns = np.maximum(rng.exponential(MEAN_GAP_NS, size=n), 1.0).astype(np.int64)
        ts = last_ts + np.cumsum(gaps_ns)
        last_ts = int(ts[-1])

        take = min(n, rows - done)
        yield ts[:take], features[:take], s[:take]
        done += take


def synth_market(
    rows: int,
    seed: int,
    symbol: str = "SYNTH",
    lean: tuple[int, int] = LEAN_LEVELS,
    market: Market = DEFAULT,
) -> tuple[np.ndarray, np.ndarray]:
    """(ts int64 (rows,), features float32 (rows, 40)) of the synthetic market.

    `symbol` is accepted for symmetry with the CLI; the numbers do not depend on it.
    """
    del symbol
    ts = np.empty(rows, dtype=np.int64)
    features = np.empty((rows, N_FEATURES), dtype=np.float32)
    at = 0
    for t, f in synth_chunks(rows, seed, lean, market):
        ts[at : at + len(t)] = t
        features[at : at + len(t)] = f
        at += len(t)
    return ts, features


def write_canonical_csv(path: Path, rows: int, seed: int, symbol: str = "SYNTH") -> Path:
    """Write the synthetic market as a canonical CSV (for benchmarks and tests)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    schema = pa.schema(
        [("ts", pa.int64()), ("symbol", pa.string()), *[(c, pa.float32()) for c in FEATURE_COLUMNS]]
    )
    with pa.OSFile(str(path), "wb") as sink:
        sink.write((",".join(CANONICAL_COLUMNS) + "\n").encode())  # unquoted header
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        with pacsv.CSVWriter(sink, schema, write_options=options) as writer:
            for ts, features in synth_chunks(rows, seed):
                cols = [pa.array(ts), pa.repeat(pa.scalar(symbol, pa.string()), len(ts))]
                cols += [pa.array(features[:, j]) for j in range(N_FEATURES)]
                writer.write_batch(pa.record_batch(cols, schema=schema))
    assert schema.names == list(CANONICAL_COLUMNS)
    return path
