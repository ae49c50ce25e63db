"""Baselines scored beside the model on the same test rows (shared/ml/evaluation.py).

- majority: always predict the most frequent class of the training labels;
- logistic_imbalance: multinomial logistic regression (scikit-learn, standardised input) on the
  level-1 order imbalance (bid_sz_1 − ask_sz_1) / (bid_sz_1 + ask_sz_1) at the sample's last row;
- logistic_book: the same on the whole-book features of shared/ml/book_features.py;
- gbm_book: gradient-boosted trees (LightGBM) on those features, the number of trees cut short
  when the validation log loss stops improving.

Each is fitted on the served fold's training rows, once per class weighting (none, "balanced"),
and the weighting with the better macro F1 on the validation rows is kept (the first on a tie).
The test rows are never seen. A training block holding a single class gets scikit-learn's
prior-only DummyClassifier, which is all such data supports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from shared.data.schema import ASK_SZ_1, BID_SZ_1
from shared.ml.metrics import macro_f1

CLASSES = 3

BaselineName = Literal["logistic_imbalance", "logistic_book", "gbm_book"]
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
# LightGBM: small, regularised trees, fixed rather than tuned, so the baseline neither wins by
# fitting noise nor loses by being starved. Deterministic for a seed (force_col_wise fixes the
# histogram layout that otherwise depends on a timing test).
GBM_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,  # bagging is off unless a frequency is set
    "colsample_bytree": 0.8,
    "n_jobs": 2,
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
}
EARLY_STOPPING_ROUNDS = 20
# lbfgs on standardised inputs converges in tens of iterations; the cap only guards odd data.
LOGISTIC_MAX_ITER = 2_000


def order_imbalance(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    bid = np.asarray(features[rows, BID_SZ_1], dtype=np.float64)
    ask = np.asarray(features[rows, ASK_SZ_1], dtype=np.float64)
    total = bid + ask
    return np.divide(bid - ask, total, out=np.zeros_like(total), where=total > 0)


def majority_class(labels: np.ndarray) -> int:
    return int(np.bincount(labels.astype(np.int64), minlength=CLASSES).argmax())


@dataclass
class Baseline:
    name: str
    model: Any  # a fitted scikit-learn-style classifier
    class_weight: str | None
    # Validation macro F1 of each class weighting tried ("none", "balanced"): why this one.
    val_f1: dict[str, float] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities for DOWN, NEUTRAL, UP (0 for a class absent from training)."""
        out = np.zeros((x.shape[0], CLASSES))
        out[:, np.asarray(self.model.classes_).astype(np.int64)] = self.model.predict_proba(x)
        return out


def _fit(
    name: str,
    class_weight: str | None,
    seed: int,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
) -> Any:
    if np.unique(y_train).size < 2:
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior").fit(x_train, y_train)
    if name == "gbm_book":
        import lightgbm
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(**GBM_PARAMS, class_weight=class_weight, random_state=seed)
        # Early stopping needs validation labels the training labels know (LightGBM encodes
        # eval labels with the training set's classes).
        if y_val.size and np.isin(y_val, y_train).all():
            return model.fit(
                x_train,
                y_train,
                eval_X=(x_val,),
                eval_y=(y_val,),
                callbacks=[lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
        return model.fit(x_train, y_train)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(class_weight=class_weight, max_iter=LOGISTIC_MAX_ITER),
    )
    return model.fit(x_train, y_train)


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
    if name not in get_args(BaselineName):
        raise ValueError(
            f"unknown baseline {name!r}; use one of {', '.join(get_args(BaselineName))}"
        )
    x_train, x_val = np.asarray(x_train), np.asarray(x_val)
    y_train = np.asarray(y_train, dtype=np.int64)
    y_val = np.asarray(y_val, dtype=np.int64)
    best: Baseline | None = None
    tried: dict[str, float] = {}
    for weight in CLASS_WEIGHTS:
        model = _fit(name, weight, seed, x_train, y_train, x_val, y_val)
        fitted = Baseline(name, model, weight)
        f1 = macro_f1(y_val, fitted.predict_proba(x_val).argmax(1)) if y_val.size else 0.0
        tried[weight or "none"] = f1
        if best is None or f1 > tried[best.class_weight or "none"]:
            best = fitted
    assert best is not None
    best.val_f1 = tried
    return best
