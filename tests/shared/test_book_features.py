"""Whole-book features: equal to a plain-loop reference, and causal (row t sees rows <= t)."""

from __future__ import annotations

import math

import numpy as np

from shared.data.synth import synth_market
from shared.ml.book_features import FEATURE_NAMES, book_features


def reference(f: np.ndarray, t: int) -> list[float]:
    """Row t's features, one loop at a time, from the module docstring's definitions."""
    ask = [f[t, 4 * i] for i in range(10)]
    qa = [f[t, 4 * i + 1] for i in range(10)]
    bid = [f[t, 4 * i + 2] for i in range(10)]
    qb = [f[t, 4 * i + 3] for i in range(10)]

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    out = [ratio(qb[i] - qa[i], qb[i] + qa[i]) for i in range(10)]
    out += [
        ratio(sum(qb[: i + 1]) - sum(qa[: i + 1]), sum(qb[: i + 1]) + sum(qa[: i + 1]))
        for i in range(10)
    ]

    def mid(r: int) -> float:
        return (f[r, 0] + f[r, 2]) / 2

    out.append(ratio(ask[0] - bid[0], mid(t)))
    out += [math.log(mid(t) / mid(t - k)) if t >= k else 0.0 for k in (1, 5, 20, 100)]
    for k in (10, 50):
        e_sum, depth = 0.0, 0.0
        for r in range(max(0, t - k + 1), t + 1):
            depth += (f[r, 1] + f[r, 3]) / 2
            if r == 0:
                continue
            b0, b1, a0, a1 = f[r - 1, 2], f[r, 2], f[r - 1, 0], f[r, 0]
            e_sum += (
                (b1 >= b0) * f[r, 3] - (b1 <= b0) * f[r - 1, 3]
                - (a1 <= a0) * f[r, 1] + (a1 >= a0) * f[r - 1, 1]
            )  # fmt: skip
        out.append(ratio(e_sum, depth / min(t + 1, k)))
    return out


def test_features_equal_a_plain_loop_and_have_their_names() -> None:
    _, f = synth_market(400, seed=2)
    f = f.astype(np.float64)
    got = book_features(f)
    assert got.shape == (400, len(FEATURE_NAMES)) and got.dtype == np.float32
    for t in (0, 1, 4, 5, 19, 99, 100, 250, 399):
        np.testing.assert_allclose(got[t], reference(f, t), rtol=2e-5, atol=2e-6, err_msg=str(t))


def test_no_look_ahead_and_no_nan() -> None:
    # Given a book, and the same book with every row after t scrambled (and one empty level)
    _, f = synth_market(500, seed=3)
    other = f.copy()
    other[301:] = other[301:][::-1]
    other[301:, 1] = 0
    other[301:, 3] = 0
    # Then rows up to t are unchanged and nothing is NaN
    np.testing.assert_array_equal(book_features(other)[:301], book_features(f)[:301])
    assert np.isfinite(book_features(other)).all()
