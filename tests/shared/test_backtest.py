"""The cost-aware backtest against hand-computed fills and fees, a per-sample reference of the
rule, and θ chosen on the validation block alone."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from shared.ml.backtest import backtest, choose_theta, signals, trades

UP, DOWN, FLAT = [0.1, 0.2, 0.7], [0.7, 0.2, 0.1], [0.2, 0.6, 0.2]


def reference_trades(sig: list[int], rows: list[int], horizon: int) -> list[tuple[int, int, int]]:
    """The rule of the module docstring, one sample at a time."""
    out, side, entry, last = [], 0, -1, len(sig) - 1
    for i in range(len(sig)):
        if side != 0:
            flip = sig[i] == -side
            if flip or rows[i] - rows[entry] >= horizon or i == last:
                out.append((entry, i, side))
                side = 0
                if not flip:
                    continue  # a horizon exit does not re-enter at its own sample
        if side == 0 and sig[i] != 0 and i < last:
            side, entry = sig[i], i
    return out


def test_a_hand_computed_case_with_known_fills_and_fees() -> None:
    # Given five rows: UP at 0 (held 2 rows), UP again at 2, DOWN at 3
    probs = np.array([UP, FLAT, UP, DOWN, FLAT])
    rows = np.arange(5)
    ask = np.array([100.0, 100.5, 101.0, 100.0, 99.0])
    bid = np.array([99.5, 100.0, 100.5, 99.5, 98.5])
    # When backtested at θ 0.5, horizon 2 rows, 1 bps a side
    got = backtest(probs, rows, ask, bid, horizon=2, theta=0.5, fee_bps=1.0)
    # Then: long buys the ask 100.0 at row 0, sells the bid 100.5 at row 2 (2 rows on):
    #   (100.5 − 100) / 100 · 1e4 = 50 bps, − 2 · 1 bps fee = 48 bps net;
    # row 2's UP does not re-enter on its exit row; short sells the bid 99.5 at row 3 and buys
    # back the ask 99.0 at row 4, the last: 0.5 / 99.5 · 1e4 = 50.2512562814 − 2 = 48.2512562814.
    assert trades(probs, rows, horizon=2, theta=0.5) == [(0, 2, 1), (3, 4, -1)]
    assert got["trades"] == 2 and got["long"] == 1 and got["short"] == 1
    assert got["total_net_bps"] == pytest.approx(96.2512562814)  # 48 + 48.2512562814
    assert got["mean_net_bps"] == pytest.approx(48.1256281407)  # 96.2512562814 / 2
    # Two trades are too few for a Sharpe ratio (their std 0.1777 would make it 270.9)
    assert got["sharpe"] is None
    assert got["hit_rate"] == 1.0 and got["max_drawdown_bps"] == 0.0
    assert got["turnover"] == pytest.approx(0.8)  # 2 trades · 2 fills / 5 samples
    assert got["equity"] == pytest.approx([48.0, 96.2512562814])
    # Gross, at zero cost, fills at the mid (99.75 → 100.75 long, 99.75 → 98.75 short):
    # 1 / 99.75 · 1e4 = 100.2506265664 bps each
    assert got["gross"]["total_net_bps"] == pytest.approx(2 * 100.2506265664)
    assert got["gross"]["trades"] == 2 and "equity" not in got["gross"]


def test_sharpe_is_the_mean_over_the_sample_std_of_the_trades_from_ten_trades_on() -> None:
    from shared.ml.backtest import MIN_SHARPE_TRADES

    # Given a random signal over a random-walk book, with many trades
    rng = np.random.default_rng(4)
    probs = rng.dirichlet([1, 1, 1], size=400)
    bid = 100 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], size=400))
    ask = bid + 0.01
    got = backtest(probs, np.arange(400), ask, bid, horizon=5, theta=0.5, fee_bps=0.5)
    assert got["trades"] >= MIN_SHARPE_TRADES
    # Then Sharpe is the mean net return over its sample std (ddof 1), per trade
    returns = np.diff(np.concatenate([[0.0], got["equity"]]))
    assert got["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1))
    # and with one trade fewer than the minimum it is not reported
    few = trades(probs, np.arange(400), horizon=5, theta=0.5)[: MIN_SHARPE_TRADES - 1]
    cut = few[-1][1] + 1
    short = backtest(
        probs[:cut], np.arange(cut), ask[:cut], bid[:cut], horizon=5, theta=0.5, fee_bps=0.5
    )
    assert short["trades"] == MIN_SHARPE_TRADES - 1 and short["sharpe"] is None


def test_a_flip_exits_and_enters_the_other_side_on_the_same_sample() -> None:
    # Given a long signal flipping to short at sample 1, then flat to the end
    probs = np.array([UP, DOWN, FLAT, FLAT])
    ask, bid = np.full(4, 100.0), np.full(4, 99.9)
    # When backtested with a horizon longer than the data
    got = backtest(probs, np.arange(4), ask, bid, horizon=10, theta=0.5, fee_bps=0.0)
    # Then the long closes at 1 and the short opens there; flat samples do not close it, the
    # last sample does. Long: (99.9 − 100) / 100 · 1e4 = −10 bps; short: (99.9 − 100) / 99.9 ·
    # 1e4 = −10.01001 bps; drawdown = all of it, 20.01001 bps.
    assert trades(probs, np.arange(4), horizon=10, theta=0.5) == [(0, 1, 1), (1, 3, -1)]
    assert got["equity"] == pytest.approx([-10.0, -20.01001001])
    assert got["hit_rate"] == 0.0 and got["max_drawdown_bps"] == pytest.approx(20.01001001)
    assert got["gross"]["total_net_bps"] == 0.0  # the mid never moved


def test_the_horizon_counts_dataset_rows_not_samples() -> None:
    # Given samples at rows with gaps, UP all along but for a flat sample
    probs = np.array([UP, FLAT, UP, UP, UP, UP])
    rows = np.array([0, 3, 4, 9, 10, 20])
    # When held 5 rows
    done = trades(probs, rows, horizon=5, theta=0.5)
    # Then the first exit is row 9 (9 − 0 ≥ 5); the next entry is the sample after (row 10),
    # closed at the last sample (row 20)
    assert done == [(0, 3, 1), (4, 5, 1)]


def random_cases(seed: int, max_n: int) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """40 random cases: probabilities, rows with gaps, a horizon."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(1, max_n))
        yield (
            rng.dirichlet([1, 1, 1], n),
            np.cumsum(rng.integers(1, 4, n)),
            int(rng.integers(1, 12)),
        )


def test_trade_stepping_equals_the_per_sample_rule() -> None:
    # Given random signals on rows with gaps
    for probs, rows, horizon in random_cases(5, 60):
        # Then the trade-to-trade stepping gives exactly the sample-by-sample trades
        sig = signals(probs, 0.4).tolist()
        want = reference_trades(sig, rows.tolist(), horizon)
        assert trades(probs, rows, horizon=horizon, theta=0.4) == want


def test_no_trades_is_reported_as_none_not_nan() -> None:
    probs = np.array([FLAT] * 6)
    ask, bid = np.full(6, 100.0), np.full(6, 99.9)
    got = backtest(probs, np.arange(6), ask, bid, horizon=2, theta=0.5, fee_bps=1.0)
    assert got["trades"] == 0 and got["equity"] == [] and got["gross"]["trades"] == 0
    for key in ("hit_rate", "mean_net_bps", "total_net_bps", "sharpe", "max_drawdown_bps"):
        assert got[key] is None and got["gross"][key] is None
    json.dumps(got, allow_nan=False)  # JSON-ready
    theta, table = choose_theta(probs, np.arange(6), ask, bid, horizon=2, fee_bps=1.0)
    assert theta is None and all(r["trades"] == 0 for r in table)
    # And one trade has no Sharpe; an empty block has no trades
    one = backtest(
        np.array([UP, FLAT]), np.arange(2), ask[:2], bid[:2], horizon=1, theta=0.5, fee_bps=0.0
    )
    assert one["trades"] == 1 and one["sharpe"] is None
    empty = np.zeros(0)
    assert (
        backtest(
            np.zeros((0, 3)), empty.astype(int), empty, empty, horizon=1, theta=0.5, fee_bps=0.0
        )["trades"]
        == 0
    )


def test_the_equity_curve_keeps_at_most_200_points_and_the_last() -> None:
    # Given 500 one-row trades (signal, flat, signal, ...)
    probs = np.array([UP, FLAT] * 500)
    mid = 100 + np.sin(np.arange(1000))
    got = backtest(
        probs, np.arange(1000), mid + 0.01, mid - 0.01, horizon=1, theta=0.5, fee_bps=0.5
    )
    assert got["trades"] == 500  # UP at 0, 2, .., 998, each closed one row later
    assert len(got["equity"]) == 200
    assert got["equity"][-1] == pytest.approx(got["total_net_bps"])


def paired_block(strong_wins: bool, pairs: int = 12) -> tuple[np.ndarray, ...]:
    """Pairs (signal, flat): strong UP (0.85) and weak UP (0.45) signals alternately; the mid
    moves +20 bps after the winners and −20 bps after the losers. Held 1 row, so one trade a
    pair."""
    strong, weak = [0.05, 0.1, 0.85], [0.3, 0.25, 0.45]
    probs, mid, price = [], [], 100.0
    for k in range(pairs):
        is_strong = k % 2 == 0
        move = 1.002 if is_strong == strong_wins else 0.998
        probs += [strong if is_strong else weak, FLAT]
        mid += [price, price * move]  # entry, then exit one row later
        price *= move
    m = np.array(mid)
    return np.array(probs), np.arange(2 * pairs), m + 0.005, m - 0.005


def test_theta_is_chosen_on_the_validation_block_alone() -> None:
    # Given a validation block where only strong signals pay and a test block where only weak do
    val, test = paired_block(strong_wins=True), paired_block(strong_wins=False)
    # When θ is chosen on each
    theta_val, table = choose_theta(*val, horizon=1, fee_bps=0.5)
    theta_test, _ = choose_theta(*test, horizon=1, fee_bps=0.5)
    # Then validation picks the first θ above the weak signals (0.5: 6 strong trades at about
    # +20 − 1 (spread) − 1 (fees) = +18 bps, against 12 trades netting 6·18 − 6·22 = −24 bps
    # at θ ≤ 0.45), while the test block would have picked 0.34: θ comes from its block only
    assert theta_val == 0.5 and theta_test == 0.34
    by_theta = {r["theta"]: r for r in table}
    assert by_theta[0.34]["trades"] == 12 and by_theta[0.5]["trades"] == 6
    assert by_theta[0.9]["trades"] == 0 and by_theta[0.9]["total_net_bps"] is None
    # And a θ under min_trades is never chosen, however well it did
    assert choose_theta(*val, horizon=1, fee_bps=0.5, min_trades=7)[0] == 0.34


def test_bad_inputs_are_refused() -> None:
    probs = np.array([UP, DOWN])
    with pytest.raises(ValueError, match="ascending"):
        backtest(probs, np.array([1, 0]), np.ones(2), np.ones(2), horizon=1, theta=0.5, fee_bps=0.0)
    with pytest.raises(ValueError, match="horizon"):
        trades(probs, np.arange(2), horizon=0, theta=0.5)
    with pytest.raises(ValueError, match="bid > 0"):
        backtest(probs, np.arange(2), np.ones(2), np.zeros(2), horizon=1, theta=0.5, fee_bps=0.0)


def test_the_streaming_backtest_closes_the_offline_trades_with_their_costs() -> None:
    from shared.ml.backtest import StreamingBacktest
    from tests.support.livekit import closed_trades

    # Given random probabilities, books and rows with gaps
    rng = np.random.default_rng(11)
    for probs, rows, horizon in random_cases(11, 80):
        bid = 100 + np.cumsum(rng.integers(-1, 2, rows.size)) * 0.01
        ask = bid + 0.01 * rng.integers(1, 3, rows.size)
        # When they are fed one sample at a time
        live = StreamingBacktest(horizon=horizon, theta=0.4, fee_bps=1.5)
        samples = zip(probs, rows, ask, bid, strict=True)
        nets = [live.push(p, int(r), float(a), float(b)) for p, r, a, b in samples]
        # Then it has closed the offline trades (all but one the end of the samples closed),
        # each with the offline costs, summed in the same order
        want = closed_trades(probs, rows, ask, bid, horizon=horizon, theta=0.4, fee_bps=1.5)
        assert (live.trades, live.net_bps) == want
        closed = [x for x in nets if x is not None]
        assert len(closed) == live.trades and sum(closed) == pytest.approx(live.net_bps)
