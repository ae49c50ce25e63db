"""Walk-forward cross-validation with purging, exactly as docs/ARCHITECTURE.md defines it
("Walk-forward cross-validation: exact definition"). numpy only.

A sample is the window of `window` rows ending at row t, with row t's label; it is identified by
t. Usable samples: t ≥ window − 1 and label ≠ IGNORE. The last `test_fraction` of them (in time
order) is the test set. The rest is cut into folds + 1 contiguous blocks B0..B(folds) of equal
count (the few oldest samples that do not divide evenly are left out). Fold k trains on
B0..B(k−1) and validates on Bk. Purge: a training sample whose label horizon reaches the first
row of its validation block (t + horizon ≥ that row) is dropped; likewise a sample of the last
block whose horizon reaches the first test row, so no label used for model selection sees a
test price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shared.errors import BadConfig
from shared.labels import IGNORE

# The smallest block that still trains on something after purging: the purge removes about
# `horizon` samples from the end of B0, and a fold needs at least this many left.
MIN_TRAIN_SAMPLES = 32


@dataclass(frozen=True)
class Fold:
    k: int  # 1-based
    train: np.ndarray  # int64 sample end rows t, ascending
    val: np.ndarray  # int64 sample end rows t, ascending


@dataclass(frozen=True)
class WalkForward:
    folds: list[Fold]
    test: np.ndarray  # int64 sample end rows t, ascending

    def fold(self, k: int) -> Fold:
        return self.folds[k - 1]


def usable_samples(labels: np.ndarray, window: int) -> np.ndarray:
    t = np.flatnonzero(labels != IGNORE).astype(np.int64)
    return t[t >= window - 1]


def rows_needed(
    labels: np.ndarray, *, horizon: int, folds: int, test_fraction: float, window: int
) -> int:
    """Fewest dataset rows for which `walk_forward` succeeds, for labels like these: the same
    unlabelled rows at both ends and the same share of labelled rows in between."""
    n = labels.shape[0]
    labelled = np.flatnonzero(labels != IGNORE)
    lead = max(window - 1, int(labelled[0]) if labelled.size else window - 1)
    trail = n - 1 - int(labelled[-1]) if labelled.size else horizon
    usable = usable_samples(labels, window).size
    density = usable / max(1, n - lead - trail) if usable else 1.0
    rest = (horizon + MIN_TRAIN_SAMPLES) * (folds + 1)
    # Smallest usable count u with u − ceil(u · test_fraction) ≥ rest.
    u = math.ceil(rest / (1.0 - test_fraction))
    while u - math.ceil(u * test_fraction) < rest:
        u += 1
    return lead + math.ceil(u / density) + trail


def walk_forward(
    labels: np.ndarray,
    *,
    horizon: int,
    folds: int = 5,
    test_fraction: float = 0.1,
    window: int = 100,
) -> WalkForward:
    """Split the samples of `labels` (one label per row, int8 with IGNORE = -1) into folds + test."""
    if folds < 1:
        raise BadConfig("folds must be at least 1")
    if not 0.0 < test_fraction < 1.0:
        raise BadConfig("test_fraction must be between 0 and 1")
    t = usable_samples(labels, window)
    n = t.shape[0]
    n_test = math.ceil(n * test_fraction)
    rest = n - n_test
    block = rest // (folds + 1)
    if block < horizon + MIN_TRAIN_SAMPLES or n_test < 1:
        need = rows_needed(
            labels, horizon=horizon, folds=folds, test_fraction=test_fraction, window=window
        )
        raise BadConfig(
            f"dataset too small for {folds} folds of {window}-row windows with a {horizon}-row "
            f"label horizon: {labels.shape[0]} rows give {n} usable samples; "
            f"at least {need} rows are needed"
        )
    test = t[rest:]
    start = rest - block * (folds + 1)  # oldest samples that do not divide evenly are left out
    blocks = [t[start + i * block : start + (i + 1) * block] for i in range(folds + 1)]
    out: list[Fold] = []
    for k in range(1, folds + 1):
        train = np.concatenate(blocks[:k])
        val = blocks[k]
        train = train[train + horizon < val[0]]
        if k == folds:
            val = val[val + horizon < test[0]]
        out.append(Fold(k=k, train=train, val=val))
    return WalkForward(folds=out, test=test)
