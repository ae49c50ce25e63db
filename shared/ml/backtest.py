"""A cost-aware backtest of a 3-class probability signal. numpy only.

The rule, over samples i = 0 .. n−1 in time order (probabilities [down, neutral, up]):
- the signal is long when P(UP) ≥ θ and P(UP) > P(DOWN), short when P(DOWN) ≥ θ and
  P(DOWN) > P(UP), flat otherwise;
- flat and a signal: enter that side. A position is held until the first sample j with
  rows[j] − rows[entry] ≥ horizon, or until the signal turns to the other side, whichever comes
  first. A flip exits and enters the other side at the same sample; a horizon exit does not
  re-enter at its own sample (a signal still on there enters at the next sample that has one). A
  flat signal does not close a position. The last sample closes whatever is open and opens
  nothing (a trade there could only be closed at once);
- fills cross the spread at the book's own prices: a long buys at the ask and sells at the bid,
  a short sells at the bid and buys back at the ask. A trade's net return is in bps of its entry
  price, less `fee_bps` per side (2·fee_bps per round trip);
- "gross" is the same trades at zero cost: filled at the mid (ask + bid) / 2 with no fee, so
  gross − net is what the spread and the fees take.

Figures (`backtest`), each over the list of per-trade returns r_1 .. r_m in bps:
trades m; hit_rate = share of r_k > 0; mean_net_bps; total_net_bps = Σ r_k; sharpe = mean /
sample standard deviation (ddof 1) per trade, not annualised (None for m < MIN_SHARPE_TRADES or
std 0: over two or three trades it is noise, and two near-equal trades give thousands);
max_drawdown_bps = the largest fall of the cumulative sum from its running peak (starting at 0),
≥ 0; turnover = units of position traded per sample, 2·m / n (every trade opens and closes one
unit; a flip trades two units at one sample); long, short = trades per side. With no trades the
ratios are None (counts stay 0), never NaN. θ is chosen on the validation rows (`choose_theta`),
never on the test rows.

The metrics are a few lines of numpy over per-trade returns. The maintained libraries for them
(empyrical-reloaded, quantstats) work on pandas series of periodic returns, annualise by a
trading calendar and compound returns for the drawdown; none fits additive per-trade bps, and
they would add a pandas-heavy stack to the worker.

The backtest steps from trade to trade, not from sample to sample: the next signal, the next
opposite signal and the horizon exit are looked up in precomputed index arrays, so the Python loop
runs once per trade and a θ grid over a few hundred thousand validation rows takes well under a
second.
"""

from __future__ import annotations

from typing import Any

import numpy as np

THETAS = (0.34, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
EQUITY_POINTS = 200
BPS = 1e4

Trade = tuple[int, int, int]  # (entry sample, exit sample, side: +1 long, −1 short)


def signals(probs: np.ndarray, theta: float) -> np.ndarray:
    """int8 (n,): +1 long, −1 short, 0 flat for each row of (n, 3) probabilities."""
    down, up = probs[:, 0], probs[:, 2]
    long = (up >= theta) & (up > down)
    short = (down >= theta) & (down > up)
    return long.astype(np.int8) - short.astype(np.int8)


def _next(mask: np.ndarray) -> np.ndarray:
    """(n + 1,) intp: for each i ≤ n, the smallest j ≥ i with mask[j], else n."""
    n = mask.shape[0]
    idx = np.where(mask, np.arange(n), n)
    out = np.full(n + 1, n, dtype=np.intp)
    out[:n] = np.minimum.accumulate(idx[::-1])[::-1]
    return out


def trades(probs: np.ndarray, rows: np.ndarray, *, horizon: int, theta: float) -> list[Trade]:
    """Every round trip of the rule above, in time order."""
    if horizon < 1:
        raise ValueError(f"backtest horizon must be at least 1 row, got {horizon}")
    sig = signals(probs, theta)
    n = sig.shape[0]
    if n < 2:
        return []
    last = n - 1
    any_signal = _next(sig != 0)
    opposite = {1: _next(sig < 0), -1: _next(sig > 0)}
    # exit_at[i]: the first sample j with rows[j] − rows[i] ≥ horizon (n when there is none).
    exit_at = np.searchsorted(rows, rows + horizon, side="left")
    out: list[Trade] = []
    i = int(any_signal[0])
    while i < last:
        side = int(sig[i])
        j = min(int(exit_at[i]), int(opposite[side][i + 1]), last)
        out.append((i, j, side))
        if j == last:
            break
        i = j if sig[j] == -side else int(any_signal[j + 1])
    return out


def trade_returns(
    side: np.ndarray,
    ask_in: np.ndarray,
    bid_in: np.ndarray,
    ask_out: np.ndarray,
    bid_out: np.ndarray,
    *,
    fee_bps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Net and gross bps of round trips (side +1 long, −1 short) entered and left at these books."""
    long = side > 0
    # A long buys the ask and sells the bid; a short sells the bid and buys back the ask.
    px_in = np.where(long, ask_in, bid_in)
    px_out = np.where(long, bid_out, ask_out)
    net = side * (px_out - px_in) / px_in * BPS - 2.0 * fee_bps
    mid_in, mid_out = (ask_in + bid_in) / 2.0, (ask_out + bid_out) / 2.0
    gross = side * (mid_out - mid_in) / mid_in * BPS
    return net, gross


class StreamingBacktest:
    """The rule of `trades` one sample at a time, for a live feed, with the costs of `backtest`.

    A live feed has no last sample, so a position stays open until the rule closes it (offline,
    the last sample closes whatever is open). `push` returns the net bps of the trade it closed.
    """

    def __init__(self, *, horizon: int, theta: float, fee_bps: float) -> None:
        if horizon < 1:
            raise ValueError(f"backtest horizon must be at least 1 row, got {horizon}")
        self.horizon, self.theta, self.fee_bps = horizon, theta, fee_bps
        self.side = 0  # the open position: +1 long, −1 short, 0 flat
        self._entry: tuple[int, float, float] = (0, 0.0, 0.0)  # row, ask, bid
        self.trades = 0
        self.wins = 0
        self.net_bps = 0.0  # Σ net bps of the closed trades, in the order they closed

    def push(self, probs: np.ndarray, row: int, ask: float, bid: float) -> float | None:
        sig = int(signals(np.asarray(probs, dtype=np.float64).reshape(1, 3), self.theta)[0])
        if self.side == 0:
            if sig:
                self.side, self._entry = sig, (row, ask, bid)
            return None
        entry_row, entry_ask, entry_bid = self._entry
        if sig != -self.side and row - entry_row < self.horizon:
            return None  # held: a flat signal does not close a position
        net, _ = trade_returns(
            np.array([self.side]),
            np.array([entry_ask]),
            np.array([entry_bid]),
            np.array([ask]),
            np.array([bid]),
            fee_bps=self.fee_bps,
        )
        ret = float(net[0])
        self.trades += 1
        self.wins += ret > 0
        self.net_bps += ret
        # A flip enters the other side at once; a horizon exit re-enters at a later sample only.
        self.side, self._entry = (sig, (row, ask, bid)) if sig == -self.side else (0, self._entry)
        return ret


# Fewest trades for which a per-trade Sharpe ratio is reported.
MIN_SHARPE_TRADES = 10


def _summary(returns: np.ndarray, sides: np.ndarray, samples: int) -> dict[str, Any]:
    m = int(returns.size)
    figures: dict[str, Any] = {
        "trades": m,
        "hit_rate": None,
        "mean_net_bps": None,
        "total_net_bps": None,
        "sharpe": None,
        "max_drawdown_bps": None,
        "turnover": 2 * m / samples if samples else 0.0,
        "long": int((sides > 0).sum()),
        "short": int((sides < 0).sum()),
    }
    if m == 0:
        return figures
    equity = np.cumsum(returns)
    peak = np.maximum.accumulate(np.concatenate([[0.0], equity]))[1:]
    std = float(returns.std(ddof=1)) if m > 1 else 0.0
    mean = float(returns.mean())
    return figures | {
        "hit_rate": float((returns > 0).mean()),
        "mean_net_bps": mean,
        "total_net_bps": float(equity[-1]),
        "sharpe": mean / std if std > 0 and m >= MIN_SHARPE_TRADES else None,
        "max_drawdown_bps": float((peak - equity).max()),
    }


def _downsample(equity: np.ndarray, points: int = EQUITY_POINTS) -> list[float]:
    """At most `points` values of `equity`, evenly spaced, always keeping the last."""
    if equity.size > points:
        equity = equity[np.unique(np.linspace(0, equity.size - 1, points).round().astype(int))]
    return [float(v) for v in equity]


def _check(probs: np.ndarray, rows: np.ndarray, ask: np.ndarray, bid: np.ndarray) -> None:
    n = rows.shape[0]
    if probs.shape != (n, 3) or ask.shape != (n,) or bid.shape != (n,):
        raise ValueError(
            f"backtest wants probs (n, 3) and rows, ask, bid (n,); got {probs.shape}, "
            f"{rows.shape}, {ask.shape}, {bid.shape}"
        )
    if n > 1 and (np.diff(rows) < 0).any():
        raise ValueError("backtest rows must be in ascending order")
    if not (np.isfinite(ask).all() and np.isfinite(bid).all() and (bid > 0).all()):
        raise ValueError("backtest prices must be finite, with bid > 0")


def backtest(
    probs: np.ndarray,
    rows: np.ndarray,
    ask: np.ndarray,
    bid: np.ndarray,
    *,
    horizon: int,
    theta: float,
    fee_bps: float,
) -> dict[str, Any]:
    """The rule above at threshold θ: JSON-ready figures net of costs, the same at zero cost
    under "gross", and "equity", the cumulative net bps after each trade (≤ 200 points)."""
    probs = np.asarray(probs, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    ask = np.asarray(ask, dtype=np.float64)
    bid = np.asarray(bid, dtype=np.float64)
    _check(probs, rows, ask, bid)
    done = np.array(trades(probs, rows, horizon=horizon, theta=theta), dtype=np.int64)
    done = done.reshape(-1, 3)
    entry, exit_, side = done[:, 0], done[:, 1], done[:, 2]
    net, gross = trade_returns(
        side, ask[entry], bid[entry], ask[exit_], bid[exit_], fee_bps=fee_bps
    )
    n = int(rows.shape[0])
    return _summary(net, side, n) | {
        "gross": _summary(gross, side, n),
        "equity": _downsample(np.cumsum(net)),
    }


def choose_theta(
    probs_val: np.ndarray,
    rows_val: np.ndarray,
    ask_val: np.ndarray,
    bid_val: np.ndarray,
    *,
    horizon: int,
    fee_bps: float,
    grid: tuple[float, ...] = THETAS,
    min_trades: int = 5,
) -> tuple[float | None, list[dict[str, Any]]]:
    """θ of `grid` with the most total net bps on the validation rows among those with at least
    `min_trades` trades (the first such θ on a tie); None when none has ("no trades"). Also the
    per-θ table: theta, trades, total_net_bps."""
    table: list[dict[str, Any]] = []
    for theta in grid:
        res = backtest(
            probs_val, rows_val, ask_val, bid_val, horizon=horizon, theta=theta, fee_bps=fee_bps
        )
        table.append(
            {"theta": float(theta), "trades": res["trades"], "total_net_bps": res["total_net_bps"]}
        )
    eligible = [r for r in table if r["trades"] >= min_trades]
    if not eligible:
        return None, table
    return max(eligible, key=lambda r: r["total_net_bps"])["theta"], table
