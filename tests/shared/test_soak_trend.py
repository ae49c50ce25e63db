"""The soak test's growth verdict: a capped buffer that fills and levels off is not a leak."""

from __future__ import annotations

import math

from devstack.bench.soak import rss_trends, slope


def _samples(series: dict[str, list[float]]) -> list[dict]:
    n = len(next(iter(series.values())))
    return [
        {"minute": float(m + 1), "rss_mb": {s: ys[m] for s, ys in series.items()}} for m in range(n)
    ]


def test_slope_is_the_gradient_of_a_line_and_nan_without_two_points() -> None:
    assert math.isclose(slope([1, 2, 3, 4], [10, 12.5, 15, 17.5]), 2.5)
    assert math.isnan(slope([1, 2], [5, float("nan")]))


def test_a_buffer_that_fills_then_levels_off_has_no_second_half_trend_but_a_leak_has() -> None:
    # given 30 minutes: a stream that fills for 8 minutes then holds, and a steady 9 MB/min leak
    capped = [min(7 + 2 * m, 23) for m in range(30)]
    leaking = [398 + 9 * m for m in range(30)]
    whole, late = rss_trends(_samples({"redis": capped, "inference": leaking}))
    # then the whole run shows both growing, the second half only the leak
    assert whole["redis"] > 0.3
    assert late["redis"] == 0
    assert math.isclose(late["inference"], 9)
    assert math.isclose(whole["inference"], 9)
