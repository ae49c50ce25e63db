"""The cost-aware backtest against hand-computed fills and fees, and θ chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ml.backtest import backtest, choose_theta, trades

UP, DOWN, FLAT = [0.1, 0.2, 0.7], [0.7, 0.2, 0.1], [0.2, 0.6, 0.2]


def test_a_hand_computed_case_with_known_fills_and_fees() -> None:
    # Given five rows: long at row 0, held 2 rows (horizon), then short at 3, closed at the end
    probs = np.array([UP, FLAT, UP, DOWN, FLAT])
    rows = np.arange(5)
    ask = np.array([100.0, 100.5, 101.0, 100.0, 99.0])
    bid = np.array([99.5, 100.0, 100.5, 99.5, 98.5])
    got = backtest(probs, rows, ask, bid, horizon=2, theta=0.5, fee_bps=1.0)
    # long: buy at ask 100.0 (row 0), sell at bid 100.5 (row 2, 2 rows later): +50 bps gross
    # (row 2's UP does not re-enter on the exit row)
    # short: sell at bid 99.5 (row 3), buy back at ask 99.0 (row 4, the last): +50.251 bps gross
    short = (99.5 - 99.0) / 99.5 * 1e4
    assert trades(probs, rows, ask, bid, horizon=2, theta=0.5) == [
        (0, 2, 1, pytest.approx(50.0)),
        (3, 4, -1, pytest.approx(short)),
    ]
    # net: 1 bps a side, 2 per round trip
    assert got["trades"] == 2 and got["long"] == 1 and got["short"] == 1
    assert got["mean_net_bps"] == pytest.approx((48.0 + short - 2) / 2)
    assert got["total_net_bps"] == pytest.approx(48.0 + short - 2)
    assert got["gross"]["total_net_bps"] == pytest.approx(50.0 + short)
    assert got["hit_rate"] == 1.0 and got["max_drawdown_bps"] == 0.0
    assert got["turnover"] == pytest.approx(4 / 5)
    assert got["equity"] == pytest.approx([48.0, 48.0 + short - 2])
    std = np.std([48.0, short - 2], ddof=1)
    assert got["sharpe"] == pytest.approx(((48.0 + short - 2) / 2) / std)


def test_a_flip_exits_and_enters_the_other_side_on_the_same_row() -> None:
    probs = np.array([UP, DOWN, FLAT, FLAT])
    ask = np.array([100.0, 100.0, 100.0, 100.0])
    bid = np.array([99.9, 99.9, 99.9, 99.9])
    done = trades(probs, np.arange(4), ask, bid, horizon=10, theta=0.5)
    # long 0 -> 1 pays the spread (-10 bps); short 1 -> 3 (closed at the last row) pays it too
    assert [(a, b, s) for a, b, s, _ in done] == [(0, 1, 1), (1, 3, -1)]
    assert done[0][3] == pytest.approx(-10.0) and done[1][3] == pytest.approx(-0.1 / 99.9 * 1e4)
    got = backtest(probs, np.arange(4), ask, bid, horizon=10, theta=0.5, fee_bps=0.0)
    assert got["hit_rate"] == 0.0 and got["max_drawdown_bps"] == pytest.approx(
        -got["total_net_bps"]
    )


def test_no_trades_is_reported_as_such() -> None:
    probs = np.array([FLAT] * 6)
    ask, bid = np.full(6, 100.0), np.full(6, 99.9)
    got = backtest(probs, np.arange(6), ask, bid, horizon=2, theta=0.5, fee_bps=1.0)
    assert got["trades"] == 0 and got["mean_net_bps"] is None and got["sharpe"] is None
    assert got["equity"] == [] and got["gross"]["trades"] == 0
    theta, table = choose_theta(probs, np.arange(6), ask, bid, horizon=2, fee_bps=1.0)
    assert theta is None and all(r["trades"] == 0 for r in table)


def test_theta_is_the_validation_blocks_best() -> None:
    # Given validation rows where confident signals are right and weak ones wrong
    rng = np.random.default_rng(0)
    n = 400
    mid = 100 + np.cumsum(rng.normal(0, 0.05, n))
    future = np.roll(mid, -5) - mid
    strength = rng.uniform(0.34, 0.95, n)
    right = strength > 0.6
    up = np.where((future > 0) == right, strength, (1 - strength) / 2)
    down = np.where((future > 0) == right, (1 - strength) / 2, strength)
    probs = np.stack([down, 1 - up - down, up], axis=1).clip(0, 1)
    theta, table = choose_theta(
        probs, np.arange(n), mid + 0.005, mid - 0.005, horizon=5, fee_bps=0.1
    )
    # Then θ is the grid point with the most net bps among those trading enough
    eligible = [r for r in table if r["trades"] >= 5]
    assert theta == max(eligible, key=lambda r: r["total_net_bps"])["theta"]
    assert theta >= 0.6
