"""How far the model's probabilities can be trusted, on the test rows.

`calibration(probs, y)` for (n, 3) probabilities [down, neutral, up] and labels y ∈ {0, 1, 2}:
- log_loss: scikit-learn's `log_loss` over labels [0, 1, 2] (natural log, mean per sample);
- brier: the multi-class Brier score (Brier 1950), (1/n)·Σ_i Σ_c (p_ic − 1[y_i = c])²; 0 is
  perfect, 2 the worst, and always guessing the class shares π scores 1 − Σ π_c²;
- reliability: a top-label reliability diagram. The predicted class's probability
  conf_i = max_c p_ic falls in one of `bins` equal-width bins [b/bins, (b+1)/bins) of [0, 1]
  (1.0 in the last); each bin gives {lo, hi, count, confidence: mean conf_i, accuracy: share of
  samples whose predicted class is right}, with confidence and accuracy None for an empty bin.
  Top-label confidence is at least 1/3, so the lowest bins are always empty. A calibrated model's
  accuracy equals its confidence in every bin;
- ece: the expected calibration error of that diagram, Σ_b (count_b / n)·|accuracy_b −
  confidence_b| (Guo et al. 2017).

Each row is rescaled to sum to 1 first: float32 softmax outputs miss 1 by ~1e-7, which
scikit-learn's log_loss would warn about. scikit-learn's `calibration_curve` is binary and drops
empty bins and their counts, so the diagram is numpy. With no samples every figure is None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import log_loss

CLASSES = 3


def reliability(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """The top-label reliability diagram of confidences `conf` and correctness `right`."""
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    right_sum = np.bincount(which, weights=right.astype(np.float64), minlength=bins)
    return [
        {
            "lo": b / bins,
            "hi": (b + 1) / bins,
            "count": int(count[b]),
            "confidence": float(conf_sum[b] / count[b]) if count[b] else None,
            "accuracy": float(right_sum[b] / count[b]) if count[b] else None,
        }
        for b in range(bins)
    ]


def calibration(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """log_loss, brier, reliability and ece of `probs` against labels `y` (module docstring)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    y = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or p.shape[1] != CLASSES or y.shape != (p.shape[0],):
        raise ValueError(f"calibration wants probs (n, 3) and y (n,); got {p.shape}, {y.shape}")
    total = p.sum(1, keepdims=True)
    p = np.divide(p, total, out=np.full_like(p, 1.0 / CLASSES), where=total > 0)
    conf = p.max(1)
    right = p.argmax(1) == y
    diagram = reliability(conf, right, bins)
    n = y.shape[0]
    if n == 0:
        return {"log_loss": None, "brier": None, "reliability": diagram, "ece": None}
    onehot = np.eye(CLASSES)[y]
    gaps = [b["count"] * abs(b["accuracy"] - b["confidence"]) for b in diagram if b["count"] > 0]
    return {
        "log_loss": float(log_loss(y, p, labels=list(range(CLASSES)))),
        "brier": float(((p - onehot) ** 2).sum(1).mean()),
        "reliability": diagram,
        "ece": float(sum(gaps) / n),
    }
