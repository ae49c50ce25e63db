"""Walk-forward split of docs/ARCHITECTURE.md: blocks, test holdout, purging, and the size check."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import BadConfig
from shared.labels import IGNORE, triple_barrier
from shared.splits import rows_needed, usable_samples, walk_forward


def labels_like_triple_barrier(n: int, span: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n).astype(np.int8)
    labels[:span] = IGNORE
    labels[n - h :] = IGNORE
    return labels


def assert_walk_forward_contract(labels, wf, *, horizon, folds, test_fraction, window):
    usable = usable_samples(labels, window)
    # Usable samples: t ≥ window − 1 and a label.
    assert (usable >= window - 1).all() and (labels[usable] != IGNORE).all()
    # Test: the last test_fraction of usable samples, in time order.
    n_test = int(np.ceil(usable.size * test_fraction))
    np.testing.assert_array_equal(wf.test, usable[usable.size - n_test :])
    assert len(wf.folds) == folds
    val_blocks = [f.val for f in wf.folds]
    for f in wf.folds:
        assert f.train.dtype == np.int64 and f.val.dtype == np.int64
        assert np.all(np.diff(f.train) > 0) and np.all(np.diff(f.val) > 0)
        assert f.train.size > 0 and f.val.size > 0
        # Training is everything before the validation block (B0..B(k−1)) minus the purge.
        assert f.train.max() < f.val.min()
        # THE purge property: no training label's horizon reaches a validation or test row.
        assert (f.train + horizon < f.val.min()).all()
        assert (f.train + horizon < wf.test.min()).all()
        # The purge drops only what it must: the next usable sample would reach the block.
        before = usable[(usable < f.val.min())]
        kept = before[before + horizon < f.val.min()]
        assert kept.size - f.train.size <= (usable.size - n_test) % (folds + 1)  # uneven oldest
        assert f.train.max() == kept.max()
        # No fold trains or validates on the test set.
        assert not np.intersect1d(f.train, wf.test).size
        assert not np.intersect1d(f.val, wf.test).size
    # The last block's labels do not reach the test rows either.
    assert (wf.folds[-1].val + horizon < wf.test.min()).all()
    # Blocks B1..B(folds) are contiguous runs of usable samples and of equal count (before the
    # last block's purge against the test set).
    sizes = [v.size for v in val_blocks[:-1]]
    assert len(set(sizes)) <= 1
    for a, b in pairwise(val_blocks):
        assert a.max() < b.min()
    # Fold k trains on B0..B(k−1): growing, each extending the previous one's span.
    for a, b in pairwise(wf.folds):
        assert b.train.size > a.train.size
        assert b.train.min() == a.train.min()


def test_default_split_on_triple_barrier_labels():
    rng = np.random.default_rng(0)
    mid = 100 + np.cumsum(rng.choice([-0.01, 0, 0.01], 12_000))
    labels = triple_barrier(mid, span=100, h=100)
    wf = walk_forward(labels, horizon=100)
    assert_walk_forward_contract(labels, wf, horizon=100, folds=5, test_fraction=0.1, window=100)
    usable = usable_samples(labels, 100)
    assert usable[0] == 100  # the warm-up (span) outlasts the window's 99 rows
    block = (usable.size - wf.test.size) // 6
    assert wf.folds[0].val.size == block
    assert wf.folds[0].train.size == block - 100  # B0 minus the purged last 100 samples


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(600, 6000),
    horizon=st.integers(1, 60),
    folds=st.integers(1, 6),
    test_fraction=st.sampled_from([0.05, 0.1, 0.2]),
    seed=st.integers(0, 10),
)
def test_split_contract_holds_for_any_size(n, horizon, folds, test_fraction, seed):
    labels = labels_like_triple_barrier(n, span=min(100, n // 4), h=horizon, seed=seed)
    # Scattered IGNORE rows inside too (another labeller could leave gaps).
    labels[np.random.default_rng(seed).integers(0, n, n // 20)] = IGNORE
    try:
        wf = walk_forward(labels, horizon=horizon, folds=folds, test_fraction=test_fraction)
    except BadConfig as exc:
        need = int(re.search(r"at least (\d+) rows", str(exc)).group(1))
        assert need > n
        return
    assert_walk_forward_contract(
        labels, wf, horizon=horizon, folds=folds, test_fraction=test_fraction, window=100
    )


def test_too_small_says_how_many_rows_are_needed():
    labels = labels_like_triple_barrier(1000, span=100, h=100)
    with pytest.raises(BadConfig, match=r"5 folds of 100-row windows.*at least (\d+) rows"):
        walk_forward(labels, horizon=100)
    need = rows_needed(labels, horizon=100, folds=5, test_fraction=0.1, window=100)
    # That many rows (same margins) is enough.
    wf = walk_forward(labels_like_triple_barrier(need, span=100, h=100), horizon=100)
    assert len(wf.folds) == 5
    with pytest.raises(BadConfig):
        walk_forward(labels_like_triple_barrier(need - 40, span=100, h=100), horizon=100)
