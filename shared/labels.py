"""Labels: exactly the two definitions of docs/ARCHITECTURE.md ("Labels: exact definitions").
numpy only.

Classes: DOWN = 0, NEUTRAL = 1, UP = 2; IGNORE = -1 marks rows that are never trained or scored.

Both labellers are vectorised. The triple barrier's first-touch scan uses binary lifting over
range-max / range-min tables (7 gathers per direction for h = 100 instead of 100 passes), in
cache-sized chunks, so 3.7M rows label in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shared.data.schema import ASK_PX_1, BID_PX_1

if TYPE_CHECKING:
    from shared.train_config import TrainConfig

IGNORE, DOWN, NEUTRAL, UP = -1, 0, 1, 2
CLASS_NAMES = ("DOWN", "NEUTRAL", "UP")

# Rows of t handled per chunk of the barrier scan: small enough that the lifting tables of a
# chunk stay in cache, large enough that numpy's per-call overhead is noise.
_CHUNK = 1 << 15


def mid_price(features: np.ndarray) -> np.ndarray:
    """m_t = (ask_px_1 + bid_px_1) / 2 as float64 (exact for float32 inputs)."""
    ask = np.asarray(features[:, ASK_PX_1], dtype=np.float64)
    bid = np.asarray(features[:, BID_PX_1], dtype=np.float64)
    return (ask + bid) / 2.0


def ewma_variance(r2: np.ndarray, a: float) -> np.ndarray:
    """v_0 = 0 (r2[0] is ignored), v_t = (1 − a)·v_{t−1} + a·r2_t, for all t, without a Python loop.

    Within a block of L rows v_t = w^j·v_start + Σ a·r2_s·w^(j−i) (w = 1 − a); the block sum is
    a cumulative sum of r2·w^(−i), scaled back by w^j. L is chosen so that w^(−L) stays far from
    overflow. Blocks are computed side by side as a 2-D array; only the carry between blocks is a
    (short) Python loop.
    """
    n = r2.shape[0]
    out = np.zeros(n, dtype=np.float64)
    if n <= 1:
        return out
    w = 1.0 - a
    x = np.asarray(r2, dtype=np.float64) * a
    x[0] = 0.0  # v_0 = 0 by definition
    if w <= 0.0:  # a == 1: v_t = r2_t
        out[1:] = x[1:]
        return out
    decay = -np.log(w)
    block = int(max(1, min(n, 200.0 / decay))) if decay > 0 else n  # w^-L ≤ e^200
    nblocks = -(-n // block)
    pad = np.zeros(nblocks * block, dtype=np.float64)
    pad[:n] = x
    blocks = pad.reshape(nblocks, block)
    j = np.arange(block, dtype=np.float64)
    up = np.exp(j * decay)  # w^-j
    down = np.exp(-j * decay)  # w^j
    local = np.cumsum(blocks * up, axis=1) * down  # block-local v with zero carry in
    # Carry: v at the last row of each block feeds the next block as w^(j+1)·carry.
    ends = np.empty(nblocks, dtype=np.float64)
    carry = 0.0
    tail = w**block
    for b in range(nblocks):
        ends[b] = carry  # v just before block b
        carry = carry * tail + local[b, -1]
    local += ends[:, None] * (down * w)[None, :]
    return local.reshape(-1)[:n]


def _range_tables(values: np.ndarray, levels: int, reduce: np.ufunc) -> list[np.ndarray]:
    """tables[L][i] = reduce(values[i : i + 2**L])."""
    tables = [values]
    for lvl in range(1, levels):
        prev, half = tables[-1], 1 << (lvl - 1)
        tables.append(reduce(prev[:-half], prev[half:]))
    return tables


def _first_touch(
    tables: list[np.ndarray], start: np.ndarray, barrier: np.ndarray, upper: bool
) -> np.ndarray:
    """For each i: the largest o < 2**levels with no touch in values[start+0 .. start+o−1].

    A touch is value > barrier (upper) or value < barrier (lower). The predicate "no touch in the
    first o values" is monotone in o, so greedy descending powers of two find the maximum.
    """
    o = np.zeros(start.shape[0], dtype=np.intp)
    for lvl in range(len(tables) - 1, -1, -1):
        g = tables[lvl][start + o]
        clear = (g <= barrier) if upper else (g >= barrier)
        o += clear * (1 << lvl)
    return o


def triple_barrier(
    mid: np.ndarray, *, span: int = 100, k: float = 1.0, h: int = 100, min_return: float = 0.0
) -> np.ndarray:
    """The dynamic triple barrier of docs/ARCHITECTURE.md; int8 labels (IGNORE where undefined)."""
    mid = np.ascontiguousarray(mid, dtype=np.float64)
    n = mid.shape[0]
    labels = np.full(n, IGNORE, dtype=np.int8)
    first, last = span, n - 1 - h  # rows with a warm volatility and a full horizon
    if n == 0 or last < first:
        return labels
    r = np.zeros(n, dtype=np.float64)
    np.log(mid[1:] / mid[:-1], out=r[1:])
    v = ewma_variance(r * r, 2.0 / (span + 1))
    b = np.maximum(k * np.sqrt(v) * np.sqrt(h), min_return)
    upper = mid * np.exp(b)
    lower = mid * np.exp(-b)

    levels = max(1, int(h).bit_length())  # greedy reach 2**levels − 1 ≥ h
    reach = (1 << levels) - 1
    for s in range(first, last + 1, _CHUNK):
        e = min(s + _CHUNK, last + 1)  # t in [s, e)
        # Values m[s+1 .. e−1+reach]; past the end of the data pad with values that never touch.
        lo, hi = s + 1, e + reach
        seg = mid[lo : min(hi, n)]
        if hi > n:
            fill = np.full(hi - n, np.nan)
            seg = np.concatenate([seg, fill])
        up_vals = np.where(np.isnan(seg), -np.inf, seg)
        dn_vals = np.where(np.isnan(seg), np.inf, seg)
        start = np.arange(e - s, dtype=np.intp)  # index of m[t+1] in seg
        j_up = _first_touch(_range_tables(up_vals, levels, np.maximum), start, upper[s:e], True)
        j_dn = _first_touch(_range_tables(dn_vals, levels, np.minimum), start, lower[s:e], False)
        # j_* = number of values before the first touch: the touch is at j = j_* + 1 ≤ h.
        hit_up, hit_dn = j_up < h, j_dn < h
        out = np.full(e - s, NEUTRAL, dtype=np.int8)
        out[hit_up & (~hit_dn | (j_up < j_dn))] = UP
        out[hit_dn & (~hit_up | (j_dn < j_up))] = DOWN
        labels[s:e] = out
    return labels


def smoothed(mid: np.ndarray, *, k: int = 10, alpha: float = 2e-5) -> np.ndarray:
    """The DeepLOB paper's smoothed mid-price label of docs/ARCHITECTURE.md; int8, IGNORE for
    t > N − 1 − k.

    For k ≤ 256 the k-row mean is summed in row order (bit-identical to a plain loop); longer
    windows use a cumulative sum of mid − m_0 (rounding error far below any sensible alpha).
    """
    mid = np.ascontiguousarray(mid, dtype=np.float64)
    n = mid.shape[0]
    labels = np.full(n, IGNORE, dtype=np.int8)
    m = n - k  # rows t = 0 .. n−1−k have k rows ahead
    if m <= 0:
        return labels
    if k <= 256:
        acc = mid[1 : m + 1].copy()
        for i in range(2, k + 1):
            acc += mid[i : m + i]
        mean = acc / k
    else:
        cs = np.concatenate([[0.0], np.cumsum(mid - mid[0])])
        mean = (cs[k + 1 : m + k + 1] - cs[1 : m + 1]) / k + mid[0]
    lt = (mean - mid[:m]) / mid[:m]
    out = np.full(m, NEUTRAL, dtype=np.int8)
    out[lt > alpha] = UP
    out[lt < -alpha] = DOWN
    labels[:m] = out
    return labels


def make_labels(features: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """Labels for a (N, 40) feature array under a training config's label settings."""
    mid = mid_price(features)
    if cfg.labels == "triple_barrier":
        return triple_barrier(mid, span=cfg.span, k=cfg.k, h=cfg.h, min_return=cfg.min_return)
    return smoothed(mid, k=cfg.smooth_k, alpha=cfg.alpha)


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Counts of DOWN / NEUTRAL / UP (IGNORE rows left out)."""
    counts = np.bincount(labels[labels >= 0].astype(np.int64), minlength=3)
    return {name: int(c) for name, c in zip(CLASS_NAMES, counts, strict=True)}
