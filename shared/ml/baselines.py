"""Baselines scored beside the model on the same test rows. numpy only.

- majority: always predict the most frequent class of the training labels;
- logistic: multinomial logistic regression on level-1 order imbalance
  (bid_sz_1 − ask_sz_1) / (bid_sz_1 + ask_sz_1) at the sample's last row, fitted by Newton's
  method with the same per-class weights as the model's focal loss (so both chase the same
  class balance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.data.schema import ASK_SZ_1, BID_SZ_1

CLASSES = 3


def order_imbalance(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    bid = np.asarray(features[rows, BID_SZ_1], dtype=np.float64)
    ask = np.asarray(features[rows, ASK_SZ_1], dtype=np.float64)
    total = bid + ask
    return np.divide(bid - ask, total, out=np.zeros_like(total), where=total > 0)


def majority_class(labels: np.ndarray) -> int:
    return int(np.bincount(labels.astype(np.int64), minlength=CLASSES).argmax())


@dataclass(frozen=True)
class Logistic:
    coef: np.ndarray  # (2, 3): rows = [bias, imbalance], columns = classes

    def predict(self, x: np.ndarray) -> np.ndarray:
        design = np.stack([np.ones_like(x), x], axis=1)
        return (design @ self.coef).argmax(axis=1)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    class_weights: np.ndarray | None = None,
    *,
    iters: int = 50,
    ridge: float = 1e-6,
) -> Logistic:
    """Weighted multinomial logistic regression of y on [1, x] (Newton's method, ridge-damped)."""
    design = np.stack([np.ones_like(x, dtype=np.float64), x.astype(np.float64)], axis=1)
    n, d = design.shape
    y = y.astype(np.int64)
    onehot = np.zeros((n, CLASSES))
    onehot[np.arange(n), y] = 1.0
    w = np.ones(n) if class_weights is None else np.asarray(class_weights, np.float64)[y]
    sw = w.sum()
    coef = np.zeros((d, CLASSES))
    for _ in range(iters):
        z = design @ coef
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (design.T @ ((p - onehot) * w[:, None])) / sw  # (d, C)
        hess = np.zeros((CLASSES, d, CLASSES, d))
        for a in range(CLASSES):
            for b in range(a, CLASSES):
                c = w * p[:, a] * (float(a == b) - p[:, b])
                block = design.T @ (design * c[:, None]) / sw
                hess[a, :, b, :] = block
                hess[b, :, a, :] = block.T
        h = hess.reshape(CLASSES * d, CLASSES * d) + ridge * np.eye(CLASSES * d)
        step = np.linalg.solve(h, grad.T.reshape(-1)).reshape(CLASSES, d).T
        coef -= step
        if np.abs(step).max() < 1e-10:
            break
    return Logistic(coef=coef)
