"""Calibration: log loss, multi-class Brier score and a top-label reliability diagram."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shared.ml.calibration import calibration


def test_a_known_tiny_case() -> None:
    # Given three samples: right at 0.8, wrong at 0.5 (predicts NEUTRAL, is UP), right at 0.9
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.05, 0.05, 0.9]])
    y = np.array([0, 2, 2])
    got = calibration(probs, y)
    # Then log loss = −(ln 0.8 + ln 0.3 + ln 0.9) / 3 = (0.22314 + 1.20397 + 0.10536) / 3
    assert got["log_loss"] == pytest.approx(0.5108256, abs=1e-6)
    assert got["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.3) + math.log(0.9)) / 3)
    # Brier: (0.2² + 0.1² + 0.1²) + (0.2² + 0.5² + 0.7²) + (0.05² + 0.05² + 0.1²)
    #      = 0.06 + 0.78 + 0.015 = 0.855, / 3 = 0.285
    assert got["brier"] == pytest.approx(0.285)
    # Reliability: one sample each in [0.5, 0.6), [0.8, 0.9), [0.9, 1.0]
    bins = {round(b["lo"], 1): b for b in got["reliability"] if b["count"]}
    assert set(bins) == {0.5, 0.8, 0.9}
    assert bins[0.5]["accuracy"] == 0.0 and bins[0.5]["confidence"] == pytest.approx(0.5)
    assert bins[0.8]["accuracy"] == 1.0 and bins[0.8]["confidence"] == pytest.approx(0.8)
    assert bins[0.9]["accuracy"] == 1.0 and bins[0.9]["confidence"] == pytest.approx(0.9)
    assert len(got["reliability"]) == 10 and sum(b["count"] for b in got["reliability"]) == 3
    empty = [b for b in got["reliability"] if not b["count"]]
    assert all(b["accuracy"] is None and b["confidence"] is None for b in empty)
    # ECE: (|0 − 0.5| + |1 − 0.8| + |1 − 0.9|) / 3 = 0.8 / 3
    assert got["ece"] == pytest.approx(0.8 / 3)
    json.dumps(got, allow_nan=False)


def test_a_calibrated_forecaster_has_accuracy_equal_to_confidence() -> None:
    # Given labels drawn from the very probabilities that are reported
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], 60_000)
    y = (rng.random(60_000)[:, None] > np.cumsum(probs, axis=1)).sum(1)
    # When scored
    got = calibration(probs, y)
    # Then every well-filled bin's accuracy is its confidence, and the ECE is near 0
    filled = [b for b in got["reliability"] if b["count"] > 2_000]
    assert len(filled) >= 5
    for b in filled:
        assert abs(b["accuracy"] - b["confidence"]) < 0.02, b
    assert got["ece"] < 0.01
    # And an overconfident forecaster (the same, sharpened) is not calibrated
    sharp = probs**3 / (probs**3).sum(1, keepdims=True)
    assert calibration(sharp, y)["ece"] > 0.05


def test_float32_softmax_rows_and_empty_input() -> None:
    # Given float32 rows that miss 1 by rounding (log_loss would warn, and warnings are errors)
    logits = np.random.default_rng(2).normal(size=(1_000, 3)).astype(np.float32)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = calibration(p, np.zeros(1_000, dtype=np.int64))
    assert math.isfinite(got["log_loss"]) and 0 <= got["brier"] <= 2
    # Given no samples, every figure is None and the bins are empty
    empty = calibration(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    assert empty["log_loss"] is None and empty["brier"] is None and empty["ece"] is None
    assert all(b["count"] == 0 for b in empty["reliability"])
