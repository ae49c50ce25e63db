"""Small synthetic order books for the training tests (kept tiny: 2 shared CPU cores).

Why not the product's synthetic market (shared.data.synth, which every other kit uses): its
signal is a slow hidden pressure that a model reads over its 100-row window, learnable in
thousands of rows. This book plants what synth_market cannot: a level-1 imbalance that leans on
the very next mid move, so that runs of a few hundred rows and one or two epochs already move
their validation loss and F1 (the early-stopping and best-epoch tests of test_train_engine.py).
"""

from __future__ import annotations

import numpy as np

from shared.data.schema import N_FEATURES
from shared.data.store import write_dataset


def make_book(rows: int, seed: int = 0, tick: float = 0.01) -> np.ndarray:
    """(rows, 40) float32 book: discrete ticks, 1-2 tick spread, heavy-tailed sizes, and a level-1
    order imbalance that leans towards the next mid move (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice(np.array([-1, 0, 1]), size=rows, p=[0.3, 0.4, 0.3])
    bid_ticks = 10_000 + np.cumsum(steps)
    spread = 1 + (rng.random(rows) < 0.3)
    ask_ticks = bid_ticks + spread
    feats = np.empty((rows, N_FEATURES), dtype=np.float64)
    level = np.arange(10)
    feats[:, 0::4] = (ask_ticks[:, None] + level) * tick
    feats[:, 2::4] = (bid_ticks[:, None] - level) * tick
    feats[:, 1::4] = np.round(rng.lognormal(1.0, 1.0, (rows, 10)), 3) + 0.001
    feats[:, 3::4] = np.round(rng.lognormal(1.0, 1.0, (rows, 10)), 3) + 0.001
    nxt = np.append(steps[1:], 0)
    lean = np.exp(0.8 * nxt)  # next move up → more bid size at level 1
    feats[:, 3] *= lean
    feats[:, 1] /= lean
    return feats.astype(np.float32)


def make_dataset(name: str, rows: int, seed: int = 0) -> np.ndarray:
    feats = make_book(rows, seed)
    ts = 1_700_000_000_000_000_000 + np.arange(rows, dtype=np.int64) * 100_000_000
    write_dataset(name, ts=ts, features=feats, symbols=["SYN"])
    return feats
