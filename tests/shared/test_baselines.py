"""Baselines: fitted with scikit-learn / LightGBM, class weighting chosen on validation only."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ml.baselines import fit_baseline


def data(
    n: int, seed: int, minority: float = 0.1, shift: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[minority, 1 - 2 * minority, minority])
    x = rng.normal(0, 1, (n, 4)) + (y[:, None] - 1) * np.array([shift, shift / 3, 0, 0])
    return x, y


@pytest.mark.parametrize("name", ["logistic_book", "gbm_book"])
def test_a_baseline_learns_and_always_gives_three_columns(name: str) -> None:
    x, y = data(3_000, seed=0)
    xv, yv = data(1_000, seed=1)
    fitted = fit_baseline(name, x, y, xv, yv)
    p = fitted.predict_proba(xv)
    assert p.shape == (1_000, 3) and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == yv).mean() > 0.75
    # And the class weighting kept is the one with the better validation macro F1
    assert set(fitted.val_f1) == {"none", "balanced"}
    assert fitted.val_f1[fitted.class_weight or "none"] == max(fitted.val_f1.values())


def test_a_class_absent_from_training_gets_a_zero_column() -> None:
    x, y = data(600, seed=2)
    keep = y != 2
    fitted = fit_baseline("logistic_imbalance", x[keep, :1], y[keep], x[:100, :1], y[:100])
    p = fitted.predict_proba(x[:50, :1])
    assert p.shape == (50, 3) and (p[:, 2] == 0).all()
    with pytest.raises(ValueError, match="unknown baseline"):
        fit_baseline("svm", x, y, x, y)  # type: ignore[arg-type]
