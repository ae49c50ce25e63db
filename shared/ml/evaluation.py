"""Scoring a finished run on its test rows, beside strong baselines, with costs.

Everything is fitted or chosen on the served fold's own rows and never on the test rows:
- the model is the served fold's best checkpoint (chosen on its validation block);
- each baseline is fitted on the same fold's training rows, its class weighting chosen on the
  same validation block (shared.ml.baselines);
- each backtest threshold θ is chosen on the validation block (shared.ml.backtest);
then all are scored on the same test rows: classification scores, MCC, calibration of the
model's probabilities, and the cost-aware backtest (spread at the book's own prices, plus fees).

EVAL_VERSION changes whenever this evaluation does; `lob eval RUN_ID` re-scores a run whose
result.json was written by an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import matthews_corrcoef

from shared.data.schema import ASK_PX_1, BID_PX_1
from shared.gate import verdict
from shared.labels import CLASS_NAMES
from shared.ml.backtest import backtest, choose_theta
from shared.ml.baselines import fit_baseline, majority_class, order_imbalance
from shared.ml.book_features import book_features
from shared.ml.calibration import calibration
from shared.ml.metrics import scores

EVAL_VERSION = 3  # 3: no per-trade Sharpe below MIN_SHARPE_TRADES trades
BASELINES = ("logistic_imbalance", "logistic_book", "gbm_book")
# Rows of history the book features look back (mid returns over 100 rows).
FEATURE_HISTORY = 100

Probabilities = tuple[np.ndarray, np.ndarray]  # (validation, test), each (n, 3)


def _scores(true: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    pred = probs.argmax(1)
    mcc = float(matthews_corrcoef(true, pred)) if len(set(true.tolist())) > 1 else 0.0
    return scores(true, pred) | {"mcc": mcc}


def _book(features: np.ndarray, rows: np.ndarray, first: int) -> np.ndarray:
    """Whole-book features at `rows`, computed from row `first` on (causal: row t sees ≤ t)."""
    last = int(rows.max()) + 1
    block = book_features(np.asarray(features[first:last]))
    return block[rows - first]


def baseline_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    *,
    seed: int,
) -> tuple[dict[str, Probabilities], dict[str, dict[str, Any]]]:
    """Fit every baseline on `train`, choose its settings on `val`; probabilities on val and test
    and what was chosen."""
    y_train = labels[train].astype(np.int64)
    y_val = labels[val].astype(np.int64)
    majority = majority_class(y_train)
    onehot = np.zeros((1, len(CLASS_NAMES)))
    onehot[0, majority] = 1.0
    probs: dict[str, Probabilities] = {
        "majority": (np.repeat(onehot, val.size, 0), np.repeat(onehot, test.size, 0))
    }
    info: dict[str, dict[str, Any]] = {"majority": {"class": CLASS_NAMES[majority]}}
    first = max(0, int(train.min()) - FEATURE_HISTORY)
    everything = np.concatenate([train, val, test])
    book = _book(features, everything, first)
    x_book = {
        "train": book[: train.size],
        "val": book[train.size : train.size + val.size],
        "test": book[train.size + val.size :],
    }
    x_l1 = {
        part: order_imbalance(features, rows)[:, None]
        for part, rows in (("train", train), ("val", val), ("test", test))
    }
    for name in BASELINES:
        x = x_l1 if name == "logistic_imbalance" else x_book
        fitted = fit_baseline(name, x["train"], y_train, x["val"], y_val, seed=seed)
        probs[name] = (fitted.predict_proba(x["val"]), fitted.predict_proba(x["test"]))
        info[name] = {"class_weight": fitted.class_weight, "val_f1_by_weight": fitted.val_f1}
    return probs, info


def score_entries(
    *,
    features: np.ndarray,
    labels: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    entries: dict[str, Probabilities],
    horizon: int,
    fee_bps: float,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Test scores of every entry, and the backtest with θ chosen on `val` for each."""
    true = labels[test].astype(np.int64)
    ask_v, bid_v = (np.asarray(features[val, c], np.float64) for c in (ASK_PX_1, BID_PX_1))
    ask_t, bid_t = (np.asarray(features[test, c], np.float64) for c in (ASK_PX_1, BID_PX_1))
    out: dict[str, dict[str, Any]] = {}
    trades: dict[str, Any] = {}
    for name, (p_val, p_test) in entries.items():
        out[name] = _scores(true, p_test)
        theta, table = choose_theta(p_val, val, ask_v, bid_v, horizon=horizon, fee_bps=fee_bps)
        trades[name] = {
            "theta": theta,
            "no_trades": theta is None,
            "validation": table,
            "test": None
            if theta is None
            else backtest(
                p_test, test, ask_t, bid_t, horizon=horizon, theta=theta, fee_bps=fee_bps
            ),
        }
    return out, {"fee_bps": fee_bps, "horizon": horizon, "entries": trades}


def evaluate(
    *,
    features: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    model_probs: Probabilities,
    model_loss: float,
    horizon: int,
    fee_bps: float,
    seed: int,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The `model`, `baselines`, `backtest`, `gate` and `eval_version` parts of result.json."""
    say = echo or (lambda _: None)
    say("fitting the baselines on the served fold's training rows")
    probs, info = baseline_probabilities(features, labels, train, val, test, seed=seed)
    entries = {"model": model_probs, **probs}
    say("scoring the model and the baselines on the test rows, with costs")
    scored, trades = score_entries(
        features=features,
        labels=labels,
        val=val,
        test=test,
        entries=entries,
        horizon=horizon,
        fee_bps=fee_bps,
    )
    true = labels[test].astype(np.int64)
    model = scored.pop("model") | {
        "loss": model_loss,
        "calibration": calibration(model_probs[1], true),
    }
    baselines = {name: scored[name] | info[name] for name in probs}
    part: dict[str, Any] = {
        "model": model,
        "baselines": baselines,
        "backtest": trades,
        "eval_version": EVAL_VERSION,
    }
    passed, reason = verdict(part)
    part["gate"] = {"passed": passed, "reason": reason}
    return part


def needs_rescoring(result: dict[str, Any] | None) -> bool:
    return not result or int(result.get("eval_version", 1)) < EVAL_VERSION
