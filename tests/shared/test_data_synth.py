"""The synthetic market: realistic shape, deterministic, and a signal a model can learn."""

from __future__ import annotations

import numpy as np
import pytest

from shared.data.schema import ASK_PX, ASK_SZ, BID_PX, BID_SZ
from shared.data.synth import CHUNK, synth_chunks, synth_market
from shared.labels import mid_price, triple_barrier

TICK = 0.01


@pytest.fixture(scope="module")
def market() -> tuple[np.ndarray, np.ndarray]:
    return synth_market(60_000, seed=3)


def test_shape_ticks_spread_and_levels(market) -> None:
    ts, f = market
    assert ts.dtype == np.int64 and ts.shape == (60_000,)
    assert f.dtype == np.float32 and f.shape == (60_000, 40)
    assert (np.diff(ts) > 0).all()
    prices = f[:, ASK_PX].astype(np.float64), f[:, BID_PX].astype(np.float64)
    for px in prices:
        ticks = px / TICK
        assert np.abs(ticks - np.rint(ticks)).max() < 1e-2  # on the grid, up to float32 rounding
    spread_ticks = np.rint((prices[0][:, 0] - prices[1][:, 0]) / TICK)
    assert spread_ticks.min() == 1 and set(np.unique(spread_ticks)) <= {1, 2, 3}
    assert (spread_ticks == 1).mean() > 0.7
    assert (np.diff(prices[0], axis=1) > 0).all() and (np.diff(prices[1], axis=1) < 0).all()


def test_sizes_are_heavy_tailed_whole_lots(market) -> None:
    _, f = market
    sizes = np.concatenate([f[:, ASK_SZ].ravel(), f[:, BID_SZ].ravel()]).astype(np.float64)
    assert (sizes >= 1).all() and (sizes == np.rint(sizes)).all()
    # Pareto tail 1.5: the 99.9th percentile is ~60x the median; a normal/lognormal(0.5) is < 5x
    assert np.quantile(sizes, 0.999) / np.median(sizes) > 20


def test_deterministic_prefix_and_seed() -> None:
    ts_a, f_a = synth_market(1_000, seed=11)
    ts_b, f_b = synth_market(5_000, seed=11)
    np.testing.assert_array_equal(ts_a, ts_b[:1_000])
    np.testing.assert_array_equal(f_a, f_b[:1_000])
    assert not np.array_equal(synth_market(1_000, seed=12)[1], f_a)


def test_chunks_join_smoothly() -> None:
    ts, f = synth_market(CHUNK + 1_000, seed=4)
    assert (np.diff(ts) > 0).all()
    jump = np.abs(np.diff(f[CHUNK - 2 : CHUNK + 2, 2].astype(np.float64)))
    assert jump.max() <= TICK * 1.01  # the best bid moves at most one tick per row
    sizes = [len(t) for t, _ in synth_chunks(CHUNK + 1_000, seed=4)]
    assert sizes == [CHUNK, 1_000]


def test_imbalance_predicts_mid_and_beats_majority(market) -> None:
    _, f = market
    # given the visible level-1..3 size imbalance, averaged over the last 50 rows
    bid = f[:, [3, 7, 11]].sum(axis=1, dtype=np.float64)
    ask = f[:, [1, 5, 9]].sum(axis=1, dtype=np.float64)
    imb = (bid - ask) / (bid + ask)
    c = np.concatenate([[0.0], np.cumsum(imb)])
    roll = np.full(imb.shape, np.nan)
    roll[49:] = (c[50:] - c[:-50]) / 50
    mid = mid_price(f)
    # then its sign predicts the sign of the mid move over the next 100 rows
    move = mid[100:] - mid[:-100]
    r = roll[:-100]
    ok = (move != 0) & ~np.isnan(r)
    assert (np.sign(r[ok]) == np.sign(move[ok])).mean() > 0.6
    # and a two-threshold rule fitted on the first half beats the majority class on the second
    labels = triple_barrier(mid)
    usable = (labels >= 0) & ~np.isnan(roll)
    first = usable & (np.arange(len(f)) < len(f) // 2)
    second = usable & (np.arange(len(f)) >= len(f) // 2)
    best, rule = -1.0, (0.0, 0.0)
    for lo in np.quantile(roll[first], np.linspace(0.05, 0.5, 10)):
        for hi in np.quantile(roll[first], np.linspace(0.5, 0.95, 10)):
            guess = np.where(roll > hi, 2, np.where(roll < lo, 0, 1))
            acc = (guess[first] == labels[first]).mean()
            if acc > best:
                best, rule = acc, (lo, hi)
    guess = np.where(roll > rule[1], 2, np.where(roll < rule[0], 0, 1))
    accuracy = (guess[second] == labels[second]).mean()
    majority = (labels[second] == np.bincount(labels[first]).argmax()).mean()
    assert accuracy > majority + 0.04, (accuracy, majority)
    # and no class is negligible under the default labels
    assert np.bincount(labels[labels >= 0], minlength=3).min() / usable.sum() > 0.15


def test_the_signal_can_be_planted_at_deeper_levels_and_the_pressure_is_known() -> None:
    from shared.data.synth import synth_pressure

    # Given the same market with its size imbalance at levels 3-5 instead of 1-3
    _, default = synth_market(20_000, seed=3)
    _, deep = synth_market(20_000, seed=3, lean=(3, 5))
    s = synth_pressure(20_000, seed=3)

    def imbalance(f: np.ndarray, level: int) -> np.ndarray:
        bid, ask = f[:, 4 * level - 1].astype(float), f[:, 4 * level - 3].astype(float)
        return (bid - ask) / (bid + ask)

    # Then prices are the same, level 1 no longer leans with the pressure and level 4 does
    np.testing.assert_array_equal(deep[:, 0::2], default[:, 0::2])
    assert np.corrcoef(imbalance(default, 1), s)[0, 1] > 0.2
    assert abs(np.corrcoef(imbalance(deep, 1), s)[0, 1]) < 0.03
    assert np.corrcoef(imbalance(deep, 4), s)[0, 1] > 0.2
    with pytest.raises(ValueError, match="lean levels"):
        synth_market(10, seed=0, lean=(0, 2))


def test_the_planted_market_leans_each_row_less_and_forgets_faster() -> None:
    from shared.data.synth import DEFAULT, PLANTED, Market, synth_pressure

    # Given the default market and the planted one of `lob bench quality`, from the same seed
    s_default = synth_pressure(30_000, seed=3, market=DEFAULT)
    s_planted = synth_pressure(30_000, seed=3, market=PLANTED)

    def lag_corr(s: np.ndarray, lag: int) -> float:
        return float(np.corrcoef(s[:-lag], s[lag:])[0, 1])

    # Then the planted pressure forgets within ~50 rows and the default one lasts ~200
    assert lag_corr(s_planted, 50) < 0.55 < lag_corr(s_default, 50)
    # and both keep the pressure's spread, so the drift setting alone sets its strength
    assert 0.4 < s_planted.std() < 0.8 and 0.4 < s_default.std() < 0.8
    # and the default market is unchanged by the new parameter (the demo and every test use it)
    np.testing.assert_array_equal(
        synth_market(2_000, seed=3)[1], synth_market(2_000, seed=3, market=Market())[1]
    )
    with pytest.raises(ValueError, match="memory"):
        synth_market(10, seed=0, market=Market(memory=1.0))
