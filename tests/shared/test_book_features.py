"""Whole-book features: equal to a plain-loop reference, and causal (row t sees rows ≤ t)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from shared.data.synth import synth_market
from shared.ml.book_features import FEATURE_NAMES, book_features


def reference(f: np.ndarray, t: int) -> list[float]:
    """Row t's features, one loop at a time, from the module docstring's definitions."""
    ask = [f[t, 4 * i] for i in range(10)]
    qa = [f[t, 4 * i + 1] for i in range(10)]
    bid = [f[t, 4 * i + 2] for i in range(10)]
    qb = [f[t, 4 * i + 3] for i in range(10)]

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else 0.0

    out = [ratio(qb[i] - qa[i], qb[i] + qa[i]) for i in range(10)]
    out += [
        ratio(sum(qb[: i + 1]) - sum(qa[: i + 1]), sum(qb[: i + 1]) + sum(qa[: i + 1]))
        for i in range(10)
    ]

    def mid(r: int) -> float:
        return (f[r, 0] + f[r, 2]) / 2

    out.append(ratio(ask[0] - bid[0], mid(t)))
    out += [math.log(mid(t) / mid(t - k)) if t >= k else 0.0 for k in (1, 5, 20, 100)]
    for w in (10, 50):
        e_sum, depth = 0.0, 0.0
        for r in range(max(0, t - w + 1), t + 1):
            depth += (f[r, 1] + f[r, 3]) / 2
            if r == 0:
                continue  # e_0 = 0
            b0, b1, a0, a1 = f[r - 1, 2], f[r, 2], f[r - 1, 0], f[r, 0]
            e_sum += (
                (b1 >= b0) * f[r, 3] - (b1 <= b0) * f[r - 1, 3]
                - (a1 <= a0) * f[r, 1] + (a1 >= a0) * f[r - 1, 1]
            )  # fmt: skip
        out.append(ratio(e_sum, depth / min(t + 1, w)))
    return out


def test_features_equal_a_plain_loop_and_have_their_names() -> None:
    # Given a synthetic book on a tick grid (so equal prices, the OFI's ties, are common)
    _, f = synth_market(400, seed=2)
    f = f.astype(np.float64)
    # When featurised
    got = book_features(f)
    # Then every row checked equals the loop, at the edges of each look-back too
    assert got.shape == (400, len(FEATURE_NAMES)) == (400, 27) and got.dtype == np.float32
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for t in (0, 1, 4, 5, 9, 10, 19, 20, 49, 50, 99, 100, 101, 250, 399):
        np.testing.assert_allclose(got[t], reference(f, t), rtol=2e-5, atol=2e-6, err_msg=str(t))
    # And the order flow is not trivially zero (the test would not see a wrong sign)
    ofi = got[:, FEATURE_NAMES.index("ofi_10")]
    assert (ofi > 0).any() and (ofi < 0).any()


def test_a_hand_computed_order_flow() -> None:
    # Given two rows: the bid rises (a new, better bid of 7) and the ask is unchanged at 101
    # with its size falling from 5 to 2
    f = np.zeros((2, 40))
    f[:, 0::4] = 101.0 + np.arange(10)  # ask prices
    f[:, 2::4] = 99.0 - np.arange(10)  # bid prices
    f[:, 1::4] = f[:, 3::4] = 1.0
    f[0, 1], f[0, 3] = 5.0, 3.0  # row 0: ask size 5, bid size 3
    f[1, 2], f[1, 1], f[1, 3] = 100.0, 2.0, 7.0  # row 1: bid 100 (up), ask size 2, bid size 7
    got = book_features(f)
    # Then e_1 = 1[b up]·7 − 0 − 1[a ≤ a]·2 + 1[a ≥ a]·5 = 7 − 2 + 5 = 10; the mean level-1
    # depth over rows 0, 1 is ((3 + 5) / 2 + (7 + 2) / 2) / 2 = 4.25, so ofi = 10 / 4.25
    assert got[1, FEATURE_NAMES.index("ofi_10")] == np.float32(10 / 4.25)
    assert got[1, FEATURE_NAMES.index("ofi_50")] == np.float32(10 / 4.25)
    assert got[0, FEATURE_NAMES.index("ofi_10")] == 0.0
    # And imbalance (7 − 2) / 9, spread (101 − 100) / 100.5, return ln(100.5 / 100)
    assert got[1, FEATURE_NAMES.index("imb_1")] == np.float32(5 / 9)
    assert got[1, FEATURE_NAMES.index("rel_spread")] == np.float32(1 / 100.5)
    assert got[1, FEATURE_NAMES.index("ret_1")] == pytest.approx(math.log(100.5 / 100), rel=1e-6)
    assert got[1, FEATURE_NAMES.index("ret_5")] == 0.0  # not enough history


def test_no_look_ahead_and_no_nan() -> None:
    # Given a book, and the same book with every row after t scrambled (and level 1 emptied)
    _, f = synth_market(500, seed=3)
    other = f.copy()
    other[301:] = other[301:][::-1]
    other[301:, 1] = 0
    other[301:, 3] = 0
    # Then rows up to t are unchanged, and nothing is NaN even where 0/0 appears
    np.testing.assert_array_equal(book_features(other)[:301], book_features(f)[:301])
    assert np.isfinite(book_features(other)).all()
    # And an all-zero book gives zeros, not NaN
    assert (book_features(np.zeros((5, 40), dtype=np.float32)) == 0).all()


def test_chunks_do_not_change_the_answer_and_a_memory_map_works(tmp_path: Path) -> None:
    # Given a float32 memory map of a book, read in chunks smaller than the look-back
    _, f = synth_market(1_000, seed=4)
    path = tmp_path / "book.f32"
    f.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=f.shape)
    # When featurised in one chunk, and in chunks of 37 and of 150 rows
    whole = book_features(f, chunk=10_000)
    # Then every chunking gives the same rows (up to float64 summation order)
    for chunk in (37, 150):
        np.testing.assert_allclose(book_features(mm, chunk=chunk), whole, rtol=1e-5, atol=1e-6)
