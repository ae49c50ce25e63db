"""Baselines: fitted with scikit-learn / LightGBM, class weighting chosen on validation only."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ml.baselines import fit_baseline, majority_class, order_imbalance
from shared.ml.metrics import macro_f1


def data(
    n: int, seed: int, minority: float = 0.1, shift: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Rare DOWN / UP classes, shifted along the first two of four features."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[minority, 1 - 2 * minority, minority])
    x = rng.normal(0, 1, (n, 4)) + (y[:, None] - 1) * np.array([shift, shift / 3, 0, 0])
    return x, y


@pytest.mark.parametrize("name", ["logistic_book", "gbm_book"])
def test_a_baseline_learns_and_always_gives_three_columns(name: str) -> None:
    # Given separable-ish classes, one training and one validation block
    x, y = data(2_000, seed=0)
    xv, yv = data(1_000, seed=1)
    # When fitted
    fitted = fit_baseline(name, x, y, xv, yv)
    # Then it gives probabilities for all three classes and learns the shift
    p = fitted.predict_proba(xv)
    assert p.shape == (1_000, 3) and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == yv).mean() > 0.75 and macro_f1(yv, p.argmax(1)) > 0.55
    # And the class weighting kept is the one with the better validation macro F1
    assert set(fitted.val_f1) == {"none", "balanced"}
    assert fitted.val_f1[fitted.class_weight or "none"] == max(fitted.val_f1.values())
    assert fitted.val_f1[fitted.class_weight or "none"] == pytest.approx(macro_f1(yv, p.argmax(1)))


@pytest.mark.parametrize("name", ["logistic_book", "gbm_book"])
def test_the_class_weighting_follows_the_validation_block(name: str) -> None:
    # Given training rows where DOWN and UP are rare (5 % each)
    x, y = data(2_500, seed=3, minority=0.05, shift=0.8)
    # When the validation block has them common (40 % each), unweighted fits, which almost
    # never predict them, score a far worse macro F1 (about 0.11 against 0.5): balanced is kept
    xv, yv = data(1_000, seed=4, minority=0.4, shift=0.8)
    fitted = fit_baseline(name, x, y, xv, yv)
    assert fitted.class_weight == "balanced"
    assert fitted.val_f1["balanced"] > fitted.val_f1["none"] + 0.2
    # When the validation labels are all NEUTRAL, predicting NEUTRAL wins: no weighting
    fitted = fit_baseline(name, x, y, xv, np.ones_like(yv))
    assert fitted.class_weight is None


def test_lightgbm_is_deterministic_for_a_seed() -> None:
    x, y = data(1_000, seed=5)
    xv, yv = data(500, seed=6)
    a = fit_baseline("gbm_book", x, y, xv, yv, seed=7).predict_proba(xv)
    b = fit_baseline("gbm_book", x, y, xv, yv, seed=7).predict_proba(xv)
    np.testing.assert_array_equal(a, b)


def test_a_class_absent_from_training_gets_a_zero_column() -> None:
    # Given training rows without UP (and validation rows with it)
    x, y = data(600, seed=2)
    keep = y != 2
    for name in ("logistic_imbalance", "gbm_book"):
        cols = slice(0, 1) if name == "logistic_imbalance" else slice(None)
        fitted = fit_baseline(name, x[keep, cols], y[keep], x[:100, cols], y[:100])
        # Then UP gets probability 0 and the columns stay in class order
        p = fitted.predict_proba(x[:50, cols])
        assert p.shape == (50, 3) and (p[:, 2] == 0).all() and np.allclose(p.sum(1), 1)
    # Given a single training class, the prior is all there is
    one = fit_baseline("logistic_book", x[:50], np.ones(50, dtype=np.int64), x[:20], y[:20])
    np.testing.assert_array_equal(one.predict_proba(x[:3]), [[0, 1, 0]] * 3)
    with pytest.raises(ValueError, match="unknown baseline"):
        fit_baseline("svm", x, y, x, y)  # type: ignore[arg-type]


def test_majority_and_level_one_imbalance() -> None:
    f = np.zeros((3, 40), dtype=np.float32)
    f[:, 1], f[:, 3] = [1, 0, 3], [3, 0, 1]  # ask_sz_1, bid_sz_1
    np.testing.assert_allclose(order_imbalance(f, np.array([0, 1, 2])), [0.5, 0.0, -0.5])
    assert majority_class(np.array([2, 2, 0, 1, 2])) == 2
