"""Classification scores over the three classes. numpy only."""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSES = 3


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    """(classes, classes) int64; row = true class, column = predicted class."""
    idx = y_true.astype(np.int64) * classes + y_pred.astype(np.int64)
    return np.bincount(idx, minlength=classes * classes).reshape(classes, classes)


def f1_per_class(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(0).astype(np.float64)
    true = cm.sum(1).astype(np.float64)
    denom = pred + true
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (pred + true); a class absent from both scores 0.
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def scores(y_true: np.ndarray, y_pred: np.ndarray, classes: int = CLASSES) -> dict[str, Any]:
    """Accuracy, macro and weighted F1, confusion matrix, per-class F1 and support."""
    cm = confusion(y_true, y_pred, classes)
    n = int(cm.sum())
    f1 = f1_per_class(cm)
    support = cm.sum(1)
    return {
        "samples": n,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "f1_macro": float(f1.mean()),
        "f1_weighted": float((f1 * support).sum() / n) if n else 0.0,
        "f1_per_class": [float(v) for v in f1],
        "support": [int(v) for v in support],
        "confusion": cm.tolist(),
    }


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int = CLASSES) -> float:
    return float(f1_per_class(confusion(y_true, y_pred, classes)).mean())
