"""Hand-made order-book features for the baselines: what a strong non-deep model would see. numpy
only.

`book_features(features)` maps an (N, 40) book (shared.data.schema: per level ask_px, ask_sz,
bid_px, bid_sz) to float32 (N, 27), columns named by FEATURE_NAMES. Row t uses rows ≤ t only.

- imb_i (i = 1..10): depth imbalance (bid_sz_i − ask_sz_i) / (bid_sz_i + ask_sz_i);
- cum_imb_i (i = 1..10): the same over sizes summed to depth i,
  (Σ_{l≤i} bid_sz_l − Σ_{l≤i} ask_sz_l) / (Σ_{l≤i} bid_sz_l + Σ_{l≤i} ask_sz_l);
- rel_spread: (ask_px_1 − bid_px_1) / m_t, m_t = (ask_px_1 + bid_px_1) / 2;
- ret_k (k = 1, 5, 20, 100): log(m_t / m_{t−k}); 0 for t < k;
- ofi_w (w = 10, 50): level-1 order-flow imbalance (Cont, Kukanov & Stoikov 2014, "The price
  impact of order book events", eq. 2), with b, a the best bid/ask prices and q^b, q^a their sizes:
      e_t = 1[b_t ≥ b_{t−1}]·q^b_t − 1[b_t ≤ b_{t−1}]·q^b_{t−1}
            − 1[a_t ≤ a_{t−1}]·q^a_t + 1[a_t ≥ a_{t−1}]·q^a_{t−1},   e_0 = 0,
  summed over rows max(0, t−w+1) .. t and divided by the mean level-1 depth (q^b_s + q^a_s) / 2
  over the same rows, which makes it scale-free (the paper regresses price changes on OFI
  divided by average depth). Near the start of the data the window is the rows there are.

Every ratio with a zero (or, for the mid, non-positive) denominator is 0, so finite books give
finite features. The book is read in chunks of `chunk` rows (plus the 100 rows of history a chunk
needs), so a float32 memory map of millions of rows never becomes one float64 copy.
"""

from __future__ import annotations

import numpy as np

from shared.data.schema import ASK_PX_1, ASK_SZ, ASK_SZ_1, BID_PX_1, BID_SZ, BID_SZ_1, LEVELS

RETURN_LAGS = (1, 5, 20, 100)
OFI_WINDOWS = (10, 50)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"imb_{i}" for i in range(1, LEVELS + 1)),
    *(f"cum_imb_{i}" for i in range(1, LEVELS + 1)),
    "rel_spread",
    *(f"ret_{k}" for k in RETURN_LAGS),
    *(f"ofi_{w}" for w in OFI_WINDOWS),
)
# Rows before a chunk that its features read: the longest return lag; the OFI windows need
# max(OFI_WINDOWS) rows and e_s reads row s − 1, which is within that.
HISTORY = max(*RETURN_LAGS, max(OFI_WINDOWS) + 1)
# 65k rows × 40 columns of float64 is 21 MB: large enough that per-call overhead is noise.
_CHUNK = 1 << 16


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (or negative, which no valid book has)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _imbalances(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bid, ask = block[:, BID_SZ], block[:, ASK_SZ]  # (n, 10) each
    level = _ratio(bid - ask, bid + ask)
    cb, ca = np.cumsum(bid, axis=1), np.cumsum(ask, axis=1)
    return level, _ratio(cb - ca, cb + ca)


def _order_flow(block: np.ndarray) -> np.ndarray:
    """e_s for every row of `block`; e of its first row is 0 (no previous row in the block)."""
    b, qb = block[:, BID_PX_1], block[:, BID_SZ_1]
    a, qa = block[:, ASK_PX_1], block[:, ASK_SZ_1]
    e = np.zeros(block.shape[0], dtype=np.float64)
    b0, b1, a0, a1 = b[:-1], b[1:], a[:-1], a[1:]
    e[1:] = (b1 >= b0) * qb[1:] - (b1 <= b0) * qb[:-1] - (a1 <= a0) * qa[1:] + (a1 >= a0) * qa[:-1]
    return e


def _window_sums(values: np.ndarray, w: int, first: int) -> np.ndarray:
    """Σ values[max(0, j−w+1) .. j] for j = first .. len − 1 (a cumulative-sum difference)."""
    cs = np.concatenate([[0.0], np.cumsum(values)])
    j = np.arange(first, values.shape[0])
    return cs[j + 1] - cs[np.maximum(j - w + 1, 0)]


def _chunk_features(block: np.ndarray, first: int, offset: int) -> np.ndarray:
    """Features of block rows first.. (block row 0 is dataset row `offset`)."""
    n = block.shape[0] - first
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    level, cum = _imbalances(block[first:])
    out[:, 0:LEVELS] = level
    out[:, LEVELS : 2 * LEVELS] = cum
    col = 2 * LEVELS
    ask, bid = block[:, ASK_PX_1], block[:, BID_PX_1]
    mid = (ask + bid) / 2.0
    out[:, col] = _ratio(ask[first:] - bid[first:], mid[first:])
    col += 1
    log_mid = np.log(mid, out=np.zeros_like(mid), where=mid > 0)
    valid = mid > 0
    t = np.arange(first, block.shape[0])
    for k in RETURN_LAGS:
        # A lag before the block's first row is one before dataset row 0 (a later block starts
        # HISTORY rows early): no history, 0.
        back = np.maximum(t - k, 0)
        ok = (t - k >= 0) & valid[t] & valid[back]
        out[:, col] = np.where(ok, log_mid[t] - log_mid[back], 0.0)
        col += 1
    # e of block row 0 is only right when it is dataset row 0 (e_0 = 0); otherwise it is never
    # read, since first ≥ HISTORY > max window.
    e = _order_flow(block)
    depth = (block[:, BID_SZ_1] + block[:, ASK_SZ_1]) / 2.0
    for w in OFI_WINDOWS:
        count = np.minimum(t + offset, w - 1) + 1  # rows in the window
        mean_depth = _window_sums(depth, w, first) / count
        out[:, col] = _ratio(_window_sums(e, w, first), mean_depth)
        col += 1
    return out


def book_features(features: np.ndarray, *, chunk: int = _CHUNK) -> np.ndarray:
    """float32 (N, len(FEATURE_NAMES)) features of an (N, 40) book; row t sees rows ≤ t only."""
    n = features.shape[0]
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        lo = max(0, s - HISTORY)
        block = np.asarray(features[lo:e], dtype=np.float64)
        out[s:e] = _chunk_features(block, s - lo, lo)
    return out
