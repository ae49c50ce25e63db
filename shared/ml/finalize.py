"""A finished run, scored: the served fold's best model on the test rows beside the baselines
(shared/ml/evaluation.py), written as result.json and then, last, the manifest; and the table
`lob train` and `lob eval` print from it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import atomic
from shared.errors import BadConfig
from shared.labels import CLASS_NAMES
from shared.ml import checkpoint, zoo
from shared.ml.evaluation import evaluate
from shared.ml.losses import FocalLoss
from shared.ml.prepare import EVAL_BATCH, prepare
from shared.ml.runtime import Stepper, apply_threads
from shared.rundir import RunDir
from shared.scaler import Scaler
from shared.train_config import TrainConfig

log = logging.getLogger(__name__)


def finalize_run(
    run_dir: Path, *, echo: Callable[[str], None] | None = None, table: bool = True
) -> dict[str, Any]:
    """Score the last fold's best model on the test set beside the baselines.

    Writes result.json, removes resume state, then writes manifest.json (last). Returns the
    result. Raises NotFound for an unknown run and BadConfig if a fold is unfinished.
    """
    echo = echo or log.info
    run = RunDir(run_dir)
    doc = run.read_config()
    cfg = TrainConfig(**doc["settings"])
    missing = run.unfinished_folds(cfg.folds)
    if missing:
        raise BadConfig(f"run {run.name!r}: folds {missing} have not finished")
    prep = prepare(cfg, doc["dataset"]["name"])
    if prep.dataset.sha256 != doc["dataset"]["sha256"]:
        raise BadConfig(f"dataset {prep.dataset.name!r} changed since run {run.name!r} started")
    k = cfg.folds
    rt = prep.runtime
    apply_threads(rt)
    split = prep.split.fold(k)
    test = prep.split.test
    served = run.fold(k)
    scaler = Scaler.load(served.scaler)
    arch = zoo.arch(checkpoint.read_sidecar(run.path, k))
    model = checkpoint.build_model(run.path, k).to(rt.device)
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    summary = served.summary()
    alpha = np.asarray(summary["alpha"], np.float64)
    stepper = Stepper(model, None, FocalLoss(cfg.gamma, alpha).to(rt.device), rt)
    batches = prep.batches(scaler, max(cfg.batch_size, EVAL_BATCH))
    test_loss, test_probs, true = stepper.evaluate(batches.batches(test))
    _, val_probs, _ = stepper.evaluate(batches.batches(split.val))
    scored = evaluate(
        features=prep.features,
        labels=prep.labels,
        train=split.train,
        val=split.val,
        test=test,
        model_probs=(val_probs, test_probs),
        model_loss=test_loss,
        horizon=cfg.horizon,
        fee_bps=cfg.fee_bps,
        seed=cfg.seed,
        echo=echo,
    )
    folds = [run.fold(j).summary() for j in range(1, cfg.folds + 1)]
    result = {
        "run_id": run.name,
        "dataset": prep.dataset.name,
        "fold": k,
        "arch": arch,  # the zoo model (a result without it is DeepLOB's)
        "classes": list(CLASS_NAMES),
        "test": {
            "samples": int(test.size),
            "first_row": int(test[0]),
            "last_row": int(test[-1]),
            "label_counts": {n: int((true == i).sum()) for i, n in enumerate(CLASS_NAMES)},
        },
        **scored,
        "folds": folds,
        "finished_at": datetime.now(UTC).isoformat(),
    }
    atomic.write_json(run.result, result)
    run.drop_resume_state()
    run.write_manifest({"serving_fold": k, "dataset_sha256": prep.dataset.sha256})
    if table:
        echo(format_result(result))
    return result


BASELINE_TITLES = {
    "majority": "majority class",
    "logistic_imbalance": "logistic regression (L1 imbalance)",
    "logistic_book": "logistic regression (book features)",
    "gbm_book": "gradient-boosted trees (book features)",
}


def _fmt(value: Any, spec: str, missing: str = "-") -> str:
    return format(value, spec) if isinstance(value, int | float) else missing


def format_result(result: dict[str, Any]) -> str:
    """The final table: the model beside every baseline on the same test rows, with costs."""
    base = result["baselines"]
    trades = (result.get("backtest") or {}).get("entries", {})
    name = zoo.title(result.get("arch", "deeplob"))
    rows = [("model", f"{name} (fold {result['fold']})", result["model"])]
    for key, scored in base.items():
        title = BASELINE_TITLES.get(key, key)
        if key == "majority" and "class" in scored:
            title += f" ({scored['class']})"
        rows.append((key, title, scored))
    width = max(len(title) for _, title, _ in rows)
    out = [
        f"Test set: {result['test']['samples']} samples {result['test']['label_counts']}",
        f"{'model'.ljust(width)} | accuracy | macro F1 |   MCC   | trades | net bps/trade | "
        "Sharpe/trade | gross bps/trade",
        f"{'-' * width}-+----------+----------+---------+--------+---------------+"
        "--------------+----------------",
    ]
    for key, title, s in rows:
        bt = trades.get(key) or {}
        test = bt.get("test") or {}
        if bt.get("no_trades"):
            trade_cols = f"{'no trades':>6} | {'':>13} | {'':>12} | {'':>15}"
        else:
            trade_cols = (
                f"{_fmt(test.get('trades'), 'd'):>6} | {_fmt(test.get('mean_net_bps'), '+.2f'):>13}"
                f" | {_fmt(test.get('sharpe'), '+.3f'):>12}"
                f" | {_fmt((test.get('gross') or {}).get('mean_net_bps'), '+.2f'):>15}"
            )
        out.append(
            f"{title.ljust(width)} | {100 * s['accuracy']:7.2f}% | {s['f1_macro']:8.4f} | "
            f"{_fmt(s.get('mcc'), '+.3f'):>7} | {trade_cols}"
        )
    if "backtest" in result:
        bt = result["backtest"]
        out.append(
            f"Backtest: long/short on P(UP)/P(DOWN) >= theta (chosen on validation), held "
            f"{bt['horizon']} rows or until the signal flips; across the spread plus "
            f"{bt['fee_bps']:g} bps a side."
        )
    calib = result["model"].get("calibration")
    if calib:
        out.append(f"Calibration: log loss {calib['log_loss']:.4f}, Brier {calib['brier']:.4f}")
    gate = result.get("gate")
    if gate:
        out.append(f"Gate: {gate['reason']}")
    cm = result["model"]["confusion"]
    out.append("confusion (rows true DOWN/NEUTRAL/UP, columns predicted): " + json.dumps(cm))
    return "\n".join(out)


def rescore_run(run_dir: Path, *, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score a finished run again with this version's evaluation (`lob eval`): result.json and
    the manifest are rewritten; the fold files, and so the registered model, are unchanged."""
    run = RunDir(run_dir)
    if not run.finished():
        raise BadConfig(f"run {run.name!r} has not finished (no {run.manifest.name})")
    return finalize_run(run.path, echo=echo, table=False)
