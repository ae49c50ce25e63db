"""The planted filter of `lob bench quality`: what the book shows of the hidden pressure."""

from __future__ import annotations

import numpy as np

from devstack.bench.quality import FILTER_SPANS, LEAN, planted_filter
from shared.data.synth import PLANTED, synth_market, synth_pressure


def test_the_filter_is_causal_and_reads_the_pressure_better_than_one_row():
    _, features = synth_market(6_000, seed=3, lean=LEAN, market=PLANTED)
    pressure = synth_pressure(6_000, 3, PLANTED)
    x = planted_filter(features)
    assert x.shape == (6_000, 1 + 2 * len(FILTER_SPANS))
    assert np.isfinite(x).all()

    # Causal: row t's features do not change when the rows after it do
    changed = np.array(features, copy=True)
    changed[4_000:] = changed[::-1][:2_000]
    assert np.array_equal(planted_filter(changed)[:4_000], x[:4_000])

    # The EWMA over the pressure's ~50-row memory reads it better than the last row alone
    def corr(col: int) -> float:
        return float(np.corrcoef(x[:, col], pressure)[0, 1])

    span50 = 1 + FILTER_SPANS.index(50)
    assert corr(span50) > corr(0) + 0.1 > 0.1
