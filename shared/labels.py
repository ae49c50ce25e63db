"""Labels: exactly the two definitions of docs/ARCHITECTURE.md ("Labels: exact definitions").
numpy only.

Classes: DOWN = 0, NEUTRAL = 1, UP = 2; IGNORE = -1 marks rows that are never trained or scored.

Both labellers are vectorised. The triple barrier's first-touch scan uses binary lifting over
range-max / range-min tables (7 gathers per direction for h = 100 instead of 100 passes), in
cache-sized chunks, so 3.7M rows label in well under a second.

Each also has a streaming form (`streaming_labeller`), fed one mid at a time with O(horizon)
state, which live scoring uses (services/inference/scoring.py). It repeats the offline
arithmetic operation for operation (the EWMA's blocks included), so the label it gives a row is
bit-for-bit the offline label of the same row of the stream.
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
    w, decay, longest = _ewma_blocks(a)
    x = np.asarray(r2, dtype=np.float64) * a
    x[0] = 0.0  # v_0 = 0 by definition
    if w <= 0.0:  # a == 1: v_t = r2_t
        out[1:] = x[1:]
        return out
    block = min(n, longest)
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


def _ewma_blocks(a: float) -> tuple[float, np.float64, int]:
    """w = 1 − a, decay = −ln w and the longest block L of `ewma_variance` (w^−L ≤ e^200).

    A series shorter than L is one block; its rows take the same values as the first rows of a
    longer series, so a stream can use L whatever its final length."""
    w = 1.0 - a
    if w <= 0.0:
        return w, np.float64(np.inf), 1
    decay = -np.log(w)
    return w, decay, int(max(1, 200.0 / decay)) if decay > 0 else 1 << 62


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


# -- streaming: one mid at a time ------------------------------------------------------------------

# Powers w^±j of the EWMA computed per chunk of j (the offline code computes a block's at once:
# np.exp is elementwise, so a chunk's values are the block's).
_POWERS_CHUNK = 1024


class StreamingTripleBarrier:
    """`triple_barrier` over a stream: `push(m_t)` takes the next mid and returns (t − h, label),
    the row whose horizon it completes (None for the first h), IGNORE for the warm-up rows t < span.

    State: the EWMA's carry and block position, and the barriers of the h rows still scanning.
    """

    def __init__(
        self, *, span: int = 100, k: float = 1.0, h: int = 100, min_return: float = 0.0
    ) -> None:
        if h < 1:
            raise ValueError(f"the horizon h must be at least 1, got {h}")
        self.key: tuple[object, ...] = ("triple_barrier", span, k, h, min_return)
        self.span, self.k, self.h, self.min_return = span, k, h, min_return
        self.horizon = h
        self.n = 0  # rows pushed
        self.variance = 0.0  # v of the row pushed last: ewma_variance's, bit for bit
        self._a = 2.0 / (span + 1)
        self._w, self._decay, self._block = _ewma_blocks(self._a)
        self._tail = self._w**self._block if self._w > 0 else 0.0
        self._sqrt_h = np.sqrt(h)
        self._prev = 0.0
        # ewma_variance's block state: the block-local cumulative sum, the carry into the block
        # (its `ends`) and the block-local value at the previous block's last row.
        self._acc = 0.0
        self._start = 0.0
        self._block_end = 0.0
        self._powers_at = -1  # first j of the cached chunk of w^-j, w^j
        self._up = self._down = np.empty(0)
        # The rows t − h .. t − 1 still scanning, in slots t % h.
        self._upper = np.zeros(h)
        self._lower = np.zeros(h)
        self._label = np.full(h, NEUTRAL, dtype=np.int8)
        self._open = np.zeros(h, dtype=bool)

    def _powers(self, j: int) -> tuple[float, float]:
        start = j - j % _POWERS_CHUNK
        if start != self._powers_at:
            js = np.arange(start, min(start + _POWERS_CHUNK, self._block), dtype=np.float64)
            self._up, self._down = np.exp(js * self._decay), np.exp(-js * self._decay)
            self._powers_at = start
        return float(self._up[j - start]), float(self._down[j - start])

    def _variance(self, mid: float) -> float:
        """v_t of `ewma_variance` (the same block arithmetic, so the same bits)."""
        t = self.n
        x = 0.0
        if t > 0:
            r = float(np.log(np.array([mid / self._prev]))[0])
            x = r * r * self._a
        if self._w <= 0.0:
            return x
        j = t % self._block
        if j == 0 and t > 0:
            self._start = self._start * self._tail + self._block_end
            self._acc = 0.0
        up, down = self._powers(j)
        self._acc = x * up if j == 0 else self._acc + x * up
        local = self._acc * down
        if j == self._block - 1:
            self._block_end = local
        return local + self._start * (down * self._w)

    def push(self, mid: float) -> tuple[int, int] | None:
        t, h = self.n, self.h
        if t > 0:
            touch_up = self._open & (mid > self._upper)
            touch_dn = self._open & (mid < self._lower)
            self._label[touch_up] = UP
            self._label[touch_dn] = DOWN
            self._open &= ~(touch_up | touch_dn)
        slot = t % h
        done = None
        if t >= h:
            done = (t - h, int(self._label[slot]) if t - h >= self.span else IGNORE)
        self.variance = self._variance(mid)
        v = np.array([self.variance])
        b = np.maximum(self.k * np.sqrt(v) * self._sqrt_h, self.min_return)
        self._upper[slot] = (mid * np.exp(b))[0]
        self._lower[slot] = (mid * np.exp(-b))[0]
        self._label[slot] = NEUTRAL
        self._open[slot] = True
        self._prev = mid
        self.n += 1
        return done


class StreamingSmoothed:
    """`smoothed` over a stream: `push(m_t)` returns (t − k, label) once k rows follow that row.

    State: the last k + 1 mids (k ≤ 256: summed in row order, as offline), or the last k + 1
    values of the offline cumulative sum of mid − m_0 (longer windows).
    """

    def __init__(self, *, k: int = 10, alpha: float = 2e-5) -> None:
        if k < 1:
            raise ValueError(f"smooth_k must be at least 1, got {k}")
        self.key: tuple[object, ...] = ("smoothed", k, alpha)
        self.k, self.alpha = k, alpha
        self.horizon = k
        self.n = 0
        self._mids = np.zeros(k + 1)  # row s in slot s % (k + 1)
        self._sums = np.zeros(k + 1)  # k > 256: cs[s + 1] in slot s % (k + 1)
        self._first = 0.0
        self._sum = 0.0

    def push(self, mid: float) -> tuple[int, int] | None:
        t, k, size = self.n, self.k, self.k + 1
        self._mids[t % size] = mid
        if k > 256:
            if t == 0:
                self._first = mid
            self._sum = mid - self._first if t == 0 else self._sum + (mid - self._first)
            self._sums[t % size] = self._sum
        self.n += 1
        if t < k:
            return None
        row = t - k
        if k <= 256:
            acc = float(self._mids[(row + 1) % size])
            for i in range(2, k + 1):
                acc += float(self._mids[(row + i) % size])
            mean = acc / k
        else:
            mean = (self._sum - float(self._sums[row % size])) / k + self._first
        base = float(self._mids[row % size])
        lt = (mean - base) / base
        return row, UP if lt > self.alpha else DOWN if lt < -self.alpha else NEUTRAL


StreamingLabeller = StreamingTripleBarrier | StreamingSmoothed


def streaming_labeller(cfg: TrainConfig) -> StreamingLabeller:
    """The streaming form of `make_labels` under a training config's label settings."""
    if cfg.labels == "triple_barrier":
        return StreamingTripleBarrier(span=cfg.span, k=cfg.k, h=cfg.h, min_return=cfg.min_return)
    return StreamingSmoothed(k=cfg.smooth_k, alpha=cfg.alpha)


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
