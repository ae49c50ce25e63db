"""Calibration: log loss, multi-class Brier score and a top-label reliability diagram."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shared.ml.calibration import calibration


def test_a_known_tiny_case() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.05, 0.05, 0.9]])
    y = np.array([0, 2, 2])
    got = calibration(probs, y)
    assert got["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.3) + math.log(0.9)) / 3)
    brier = ((0.2**2 + 0.01 + 0.01) + (0.04 + 0.25 + 0.49) + (0.0025 + 0.0025 + 0.01)) / 3
    assert got["brier"] == pytest.approx(brier)
    bins = {b["lo"]: b for b in got["reliability"] if b["count"]}
    assert set(bins) == {0.5, 0.8, 0.9}
    assert bins[0.5]["accuracy"] == 0.0 and bins[0.8]["confidence"] == pytest.approx(0.8)
    assert bins[0.9]["accuracy"] == 1.0
    assert sum(b["count"] for b in got["reliability"]) == 3
    empty = [b for b in got["reliability"] if not b["count"]]
    assert all(b["accuracy"] is None and b["confidence"] is None for b in empty)


def test_a_calibrated_forecaster_has_accuracy_equal_to_confidence() -> None:
    # Given labels drawn from the very probabilities that are reported
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], 60_000)
    y = np.array([rng.choice(3, p=p) for p in probs])
    got = calibration(probs, y)
    for b in got["reliability"]:
        if b["count"] > 2_000:
            assert abs(b["accuracy"] - b["confidence"]) < 0.02, b
