"""Baselines scored beside the model on the same test rows (shared/ml/evaluation.py).

- majority: always predict the most frequent class of the training labels;
- logistic_imbalance: multinomial logistic regression (scikit-learn) on level-1 order imbalance
  (bid_sz_1 − ask_sz_1) / (bid_sz_1 + ask_sz_1) at the sample's last row;
- logistic_book: the same on the whole-book features of shared/ml/book_features.py;
- gbm_book: gradient-boosted trees (LightGBM) on those features.
Each is fitted on the served fold's training rows; its class weighting (none or balanced) is
chosen by macro F1 on the validation rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from shared.data.schema import ASK_SZ_1, BID_SZ_1
from shared.ml.metrics import macro_f1

CLASSES = 3


def order_imbalance(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    bid = np.asarray(features[rows, BID_SZ_1], dtype=np.float64)
    ask = np.asarray(features[rows, ASK_SZ_1], dtype=np.float64)
    total = bid + ask
    return np.divide(bid - ask, total, out=np.zeros_like(total), where=total > 0)


def majority_class(labels: np.ndarray) -> int:
    return int(np.bincount(labels.astype(np.int64), minlength=CLASSES).argmax())


BaselineName = Literal["logistic_imbalance", "logistic_book", "gbm_book"]
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")


@dataclass
class Baseline:
    name: str
    model: Any  # a fitted scikit-learn estimator
    class_weight: str | None
    # Validation macro F1 of each class weighting tried ("none", "balanced"): why this one.
    val_f1: dict[str, float] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities for DOWN, NEUTRAL, UP (0 for a class absent from training)."""
        out = np.zeros((x.shape[0], CLASSES))
        out[:, self.model.classes_.astype(np.int64)] = self.model.predict_proba(x)
        return out


def _estimator(name: str, class_weight: str | None, seed: int) -> Any:
    if name == "gbm_book":
        from lightgbm import LGBMClassifier

        # Small, regularised trees: the baseline must not win by fitting noise, nor lose by
        # being starved. Fixed, not tuned on the test rows.
        return LGBMClassifier(
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=50,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            class_weight=class_weight,
            random_state=seed,
            n_jobs=2,
            verbose=-1,
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(class_weight=class_weight, max_iter=2_000)
    )


def fit_baseline(
    name: BaselineName,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    seed: int = 0,
) -> Baseline:
    """Fit baseline `name` on the training rows, once per class weighting (none, balanced), and
    keep the one with the better macro F1 on the validation rows. The test rows are never seen."""
    if name not in ("logistic_imbalance", "logistic_book", "gbm_book"):
        raise ValueError(f"unknown baseline {name!r}")
    y_train = y_train.astype(np.int64)
    best: tuple[float, Baseline] | None = None
    tried: dict[str, float] = {}
    for weight in CLASS_WEIGHTS:
        fitted = Baseline(name, _estimator(name, weight, seed).fit(x_train, y_train), weight)
        f1 = macro_f1(y_val.astype(np.int64), fitted.predict_proba(x_val).argmax(1))
        tried[weight or "none"] = f1
        if best is None or f1 > best[0]:
            best = (f1, fitted)
    assert best is not None
    best[1].val_f1 = tried
    return best[1]
