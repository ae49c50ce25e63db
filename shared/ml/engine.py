"""Walk-forward DeepLOB training: the one engine behind `lob train` and the Celery task.

lob train --dataset btc --quick

run_training(cfg, dataset=, run_dir=) trains the folds in order and, when all are done, calls
finalize_run(run_dir), which scores the last fold's best model on the test set beside the
baselines and writes result.json and, last, manifest.json. Files in `<run_dir>/`:

  config.json          every setting, seed, dataset sha256, code version, runtime
  metrics.jsonl        one line per epoch (fold, epoch, losses, accuracies, F1, speed)
  resume.pt            after every epoch: model, optimizer, epoch, early stopping, RNG states
                       (fold<k>/resume.pt instead when only some folds run in this process)
  fold<k>/             best_deeplob_fold<k>.pth, scaler_params.json, model.json, done.json
  result.json          test scores of the model and the baselines
  manifest.json        sha256 of every file, written last

A run killed at any point resumes from its last finished epoch: call run_training again with
the same run_dir (the CLI: `lob train --resume RUN_ID`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import atomic
from shared.data.schema import WINDOW
from shared.data.store import Dataset, open_dataset
from shared.errors import BadConfig, Cancelled, NotFound
from shared.events import JobEvent
from shared.labels import CLASS_NAMES, class_counts, make_labels
from shared.ml import checkpoint
from shared.ml.augment import Augment
from shared.ml.evaluation import evaluate
from shared.ml.losses import FocalLoss, inverse_frequency
from shared.ml.metrics import macro_f1
from shared.ml.model import DeepLOBConfig
from shared.ml.progress import ProgressBar
from shared.ml.run_files import (
    MetricsLog,
    fold_seed,
    locked,
    rng_state,
    seed_everything,
    set_rng_state,
)
from shared.ml.runtime import (
    Runtime,
    Stepper,
    apply_threads,
    choose_threads,
    make_model,
    resolve_runtime,
)
from shared.ml.segments import SEGMENT_STRIDE, SegmentBatch, SegmentBatches
from shared.ml.windows import WindowBatches
from shared.scaler import Scaler
from shared.splits import WalkForward, usable_samples, walk_forward
from shared.train_config import TrainConfig
from shared.training_hooks import NoHooks, TrainHooks

log = logging.getLogger(__name__)

CONFIG = "config.json"
RESULT = "result.json"
RESUME = "resume.pt"
DONE = "done.json"
EVAL_BATCH = 256  # inference needs no gradients: bigger batches, same memory as training's


@dataclass
class Prepared:
    cfg: TrainConfig
    dataset: Dataset
    features: np.ndarray  # (rows, 40) float32 memory map (first cfg.max_rows rows)
    labels: np.ndarray  # (rows,) int8
    split: WalkForward
    runtime: Runtime

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    def batches(self, scaler: Scaler, batch_size: int) -> WindowBatches:
        """Batches of this data's windows on the runtime's device, in its memory layout."""
        return WindowBatches(self.features, self.labels, scaler, **self._placed(batch_size))

    def train_batches(self, scaler: Scaler) -> WindowBatches | SegmentBatches:
        """Training batches as the job's `batching` setting builds them."""
        if self.cfg.batching == "windows":
            return self.batches(scaler, self.cfg.batch_size)
        return self._segments(scaler, self.cfg.batch_size, SEGMENT_STRIDE)

    def val_batches(self, scaler: Scaler) -> WindowBatches | SegmentBatches:
        """Validation batches; segments (exact in eval mode) at stride 1 keep the rows' order."""
        size = max(self.cfg.batch_size, EVAL_BATCH)
        if self.cfg.batching == "windows":
            return self.batches(scaler, size)
        return self._segments(scaler, size, 1)

    def _segments(self, scaler: Scaler, batch_size: int, stride: int) -> SegmentBatches:
        where = self._placed(batch_size)
        return SegmentBatches(self.features, self.labels, scaler, stride=stride, **where)

    def _placed(self, batch_size: int) -> dict[str, Any]:
        rt = self.runtime
        return {"batch_size": batch_size, "device": rt.device, "channels_last": rt.channels_last}


def prepare(cfg: TrainConfig, dataset: str) -> Prepared:
    """Open the dataset, label it and split it; raise NotFound / BadConfig before any training."""
    runtime = resolve_runtime(cfg)
    ds = open_dataset(dataset)
    rows = ds.rows if cfg.max_rows is None else min(ds.rows, cfg.max_rows)
    features = ds.features[:rows]
    if rows < WINDOW:
        raise BadConfig(f"dataset {dataset!r} has {rows} rows; one {WINDOW}-row window needs more")
    labels = make_labels(features, cfg)
    usable = labels[usable_samples(labels, WINDOW)]
    present = np.unique(usable)
    if present.size < 2:
        what = CLASS_NAMES[int(present[0])] if present.size else "none"
        raise BadConfig(
            f"label setting {_label_desc(cfg)} gives a single class ({what}) on all "
            f"{usable.size} usable rows of {dataset!r}: widen or narrow the barrier "
            "(k, min_return / alpha) so that at least two classes occur"
        )
    split = walk_forward(
        labels,
        horizon=cfg.horizon,
        folds=cfg.folds,
        test_fraction=cfg.test_fraction,
        window=WINDOW,
    )
    return Prepared(cfg, ds, features, labels, split, runtime)


def _label_desc(cfg: TrainConfig) -> str:
    if cfg.labels == "triple_barrier":
        return f"triple_barrier(span={cfg.span}, k={cfg.k}, h={cfg.h}, min_return={cfg.min_return})"
    return f"smoothed(k={cfg.smooth_k}, alpha={cfg.alpha})"


@cache
def code_version() -> str:
    """git commit (+ '-dirty') of the checkout, else the installed package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"deeplob-hub {version('deeplob-hub')}"
        except PackageNotFoundError:
            return "unknown"


def _config_doc(prep: Prepared, run_dir: Path) -> dict[str, Any]:
    cfg = prep.cfg
    return {
        "run_id": run_dir.name,
        "created_at": datetime.now(UTC).isoformat(),
        "settings": cfg.model_dump(mode="json"),
        "seed": cfg.seed,
        "dataset": {
            "name": prep.dataset.name,
            "sha256": prep.dataset.sha256,
            "rows": prep.dataset.rows,
            "rows_used": prep.rows,
        },
        "labels": {"definition": _label_desc(cfg), "counts": class_counts(prep.labels)},
        "split": {
            "folds": [
                {"fold": f.k, "train": int(f.train.size), "val": int(f.val.size)}
                for f in prep.split.folds
            ],
            "test": int(prep.split.test.size),
            "horizon": cfg.horizon,
            "window": WINDOW,
        },
        "model": {"arch": checkpoint.ARCH, "config": model_config(cfg).to_dict()},
        "runtime": prep.runtime.describe(),
        "code_version": code_version(),
    }


def model_config(cfg: TrainConfig) -> DeepLOBConfig:
    """The paper's DeepLOB, with the job's (weightless) dropout settings."""
    return DeepLOBConfig(dropout_lstm=cfg.dropout_lstm, dropout_head=cfg.dropout_head)


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise NotFound(f"unknown run {Path(run_dir).name!r}: no {CONFIG} in {run_dir}")
    return json.loads(path.read_text())


def _write_or_check_config(prep: Prepared, run_dir: Path) -> None:
    path = run_dir / CONFIG
    if path.is_file():
        old = json.loads(path.read_text())
        # Read through TrainConfig: a run started before a setting existed gets its default,
        # which is what that run did (new settings default to the old behaviour).
        if TrainConfig(**old["settings"]).model_dump(mode="json") != prep.cfg.model_dump(
            mode="json"
        ):
            raise BadConfig(f"run {run_dir.name!r} was started with different settings")
        if old["dataset"]["sha256"] != prep.dataset.sha256:
            raise BadConfig(
                f"dataset {prep.dataset.name!r} changed since run {run_dir.name!r} started"
            )
        return
    atomic.write_json(path, _config_doc(prep, run_dir))


@dataclass
class EarlyStop:
    best_score: float = math.inf  # what cfg.select minimises: val_loss, or -val_f1
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)


class _Run:
    def __init__(
        self,
        prep: Prepared,
        run_dir: Path,
        hooks: TrainHooks,
        echo: Callable[[str], None],
        progress: bool,
        per_fold_resume: bool,
    ) -> None:
        self.prep = prep
        self.cfg = prep.cfg
        self.run_dir = run_dir
        self.hooks = hooks
        self.echo = echo
        self.progress = progress
        self.per_fold_resume = per_fold_resume
        self.metrics = MetricsLog(run_dir)
        self.job_id = run_dir.name
        self.first_fold = 0

    def emit(self, type_: str, **fields: Any) -> None:
        self.hooks.on_event(
            JobEvent(type=type_, job_id=self.job_id, folds=self.cfg.folds, **fields)
        )  # type: ignore[arg-type]

    def check_stop(self, where: str) -> None:
        if self.hooks.should_stop():
            raise Cancelled(f"training cancelled ({where}); the last finished epoch is kept")

    def resume_path(self, k: int) -> Path:
        return (
            checkpoint.fold_dir(self.run_dir, k) / RESUME
            if self.per_fold_resume
            else self.run_dir / RESUME
        )

    def fold(self, k: int) -> dict[str, Any]:
        cfg, prep, rt = self.cfg, self.prep, self.prep.runtime
        done_path = checkpoint.fold_dir(self.run_dir, k) / DONE
        if done_path.is_file():
            return json.loads(done_path.read_text())
        split = prep.split.fold(k)
        fdir = checkpoint.fold_dir(self.run_dir, k)
        scaler = Scaler.fit_windows(prep.features, split.train, WINDOW, kind=cfg.norm)
        scaler.save(fdir)
        mcfg = model_config(cfg)
        checkpoint.write_sidecar(self.run_dir, k, mcfg)
        alpha = (
            np.asarray(cfg.class_weights, np.float64)
            if cfg.class_weights
            else inverse_frequency(prep.labels[split.train])
        )

        seed_everything(fold_seed(cfg.seed, k))
        model = make_model(rt, mcfg)
        optimizer = (
            torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            if cfg.weight_decay
            else torch.optim.Adam(model.parameters(), lr=cfg.lr)
        )
        loss_fn = FocalLoss(cfg.gamma, alpha).to(rt.device)
        stepper = Stepper(model, optimizer, loss_fn, rt)
        stop = EarlyStop()
        start = 1
        stopped = False

        rpath = self.resume_path(k)
        if rpath.is_file():
            state = torch.load(rpath, map_location="cpu", weights_only=True)
            if state["fold"] == k:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                stop = EarlyStop(**state["early_stop"])
                start = int(state["epoch"]) + 1
                stopped = bool(state["stopped"])
                set_rng_state(state["rng"])
                self.echo(f"Resuming fold {k} after epoch {state['epoch']}")
        self.metrics.drop_after(k, start - 1)

        augment = Augment.build(scaler, mirror=cfg.mirror, noise=cfg.noise, device=rt.device)
        train_b = prep.train_batches(scaler)
        val_b = prep.val_batches(scaler)
        self.echo(
            f"Fold {k}/{cfg.folds}: {split.train.size} train, {split.val.size} val samples "
            f"(alpha {', '.join(f'{a:.2f}' for a in alpha)})"
        )
        epoch = start - 1
        for epoch in range(start, cfg.epochs + 1):
            if stopped:
                break
            if epoch > 1 or k != self.first_fold:
                self._recheck_threads()
            line = self._epoch(k, epoch, split, train_b, val_b, stepper, augment)
            score = line["val_loss"] if cfg.select == "val_loss" else -line["val_f1"]
            improved = score < stop.best_score
            if improved:
                checkpoint.save_weights(model, checkpoint.weights_path(self.run_dir, k))
                stop.best_score, stop.best_loss = score, line["val_loss"]
                stop.best_epoch, stop.bad_epochs = epoch, 0
                stop.best_metrics = {m: line[m] for m in ("val_loss", "val_acc", "val_f1")}
            else:
                stop.bad_epochs += 1
            line["best"] = improved
            stopped = stop.bad_epochs >= cfg.patience
            self.metrics.append(line)
            self.echo(
                f"Epoch {epoch}/{cfg.epochs} | Train Loss: {line['train_loss']:.4f} | "
                f"Acc: {100 * line['train_acc']:.2f}% | Val Loss: {line['val_loss']:.4f} | "
                f"Val Acc: {100 * line['val_acc']:.2f}% | Val F1: {line['val_f1']:.4f}"
                + ("  *" if improved else "")
            )
            self.emit(
                "epoch",
                fold=k,
                epoch=epoch,
                epochs=cfg.epochs,
                metrics={
                    m: line[m] for m in ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1")
                }
                | {"best": improved, "samples_per_s": line["samples_per_s"]},
            )
            self._save_resume(rpath, k, epoch, model, optimizer, stop, stopped)
            if stopped:
                self.echo(f"Early stopping: no {cfg.select} improvement for {cfg.patience} epochs")
        if stop.best_epoch == 0:  # cannot happen with finite losses; guard NaN training
            raise BadConfig(
                f"fold {k}: {cfg.select} was never finite, so there is no best model "
                f"(lr {cfg.lr} may be too high)"
            )
        summary = {
            "fold": k,
            "train": int(split.train.size),
            "val": int(split.val.size),
            "best_epoch": stop.best_epoch,
            "best_val_loss": stop.best_loss,
            **{f"best_{m}": v for m, v in stop.best_metrics.items() if m != "val_loss"},
            "epochs_run": max(epoch, stop.best_epoch),
            "early_stopped": stopped,
            "alpha": [float(a) for a in alpha],
        }
        atomic.write_json(done_path, summary)
        self.emit(
            "fold_done", fold=k, epoch=summary["epochs_run"], epochs=cfg.epochs, metrics=summary
        )
        return summary

    def _recheck_threads(self) -> None:
        """Follow the machine's load between epochs: neighbours start and stop during a run."""
        rt = self.prep.runtime
        threads = choose_threads(rt.device, own=torch.get_num_threads())
        if threads != torch.get_num_threads():
            self.echo(f"threads: {torch.get_num_threads()} -> {threads} (machine load)")
            apply_threads(rt, threads)

    def _epoch(
        self,
        k: int,
        epoch: int,
        split: Any,
        train_b: WindowBatches | SegmentBatches,
        val_b: WindowBatches | SegmentBatches,
        stepper: Stepper,
        augment: Augment | None = None,
    ) -> dict[str, Any]:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, k, epoch])
        if isinstance(train_b, SegmentBatches):
            plan = train_b.epoch(split.train, rng)
            batches, items = len(plan), train_b.batches(plan)
        else:
            order = rng.permutation(split.train)
            batches, items = train_b.num_batches(order.size), train_b.batches(order)
        # Its own stream, so augmentation leaves the order and the model's RNG as they were.
        gen = torch.Generator().manual_seed(fold_seed(cfg.seed, k) * 1_000 + epoch)
        bar = ProgressBar(self.progress, f"fold {k} epoch {epoch}/{cfg.epochs}", batches)
        loss_sum = torch.zeros((), device=self.prep.runtime.device)
        correct = torch.zeros((), device=self.prep.runtime.device, dtype=torch.int64)
        seen = 0
        t0 = time.perf_counter()
        try:
            for i, batch in enumerate(items, start=1):
                self.check_stop(f"fold {k} epoch {epoch} batch {i}")
                seg = isinstance(batch, SegmentBatch)
                x, y = (
                    augment(batch.x, batch.y, gen, batch.groups if seg else None)
                    if augment
                    else (batch.x, batch.y)
                )
                ls, c = stepper.train_step(x, y, batch if seg else None)
                loss_sum += ls
                correct += c
                seen += batch.size
                if i % cfg.progress_every == 0 or i == batches:
                    running = float(loss_sum) / seen
                    bar.update(i, seen, running)
                    self.emit(
                        "progress",
                        fold=k,
                        epoch=epoch,
                        epochs=cfg.epochs,
                        batch=i,
                        batches=batches,
                        metrics={
                            "train_loss": running,
                            "samples_per_s": seen / (time.perf_counter() - t0),
                        },
                    )
                    self.check_stop(f"fold {k} epoch {epoch} batch {i}")
        finally:
            bar.close()
        train_seconds = time.perf_counter() - t0
        val_items = (
            val_b.batches(val_b.epoch(split.val, None))
            if isinstance(val_b, SegmentBatches)
            else val_b.batches(split.val)
        )
        val_loss, pred, true = stepper.predict(val_items, self.hooks.should_stop)
        return {
            "fold": k,
            "epoch": epoch,
            "epochs": cfg.epochs,
            "train_loss": float(loss_sum) / max(seen, 1),
            "train_acc": float(correct) / max(seen, 1),
            "val_loss": val_loss,
            "val_acc": float((pred == true).mean()) if true.size else 0.0,
            "val_f1": macro_f1(true, pred),
            "samples_per_s": seen / max(train_seconds, 1e-9),
            "seconds": time.perf_counter() - t0,
            "lr": cfg.lr,
            "ts": time.time(),
        }

    def _save_resume(
        self,
        path: Path,
        k: int,
        epoch: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        stop: EarlyStop,
        stopped: bool,
    ) -> None:
        state = {
            "version": 1,
            "fold": k,
            "epoch": epoch,
            "stopped": stopped,
            "model": {n: t.detach().contiguous() for n, t in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "early_stop": asdict(stop),
            "rng": rng_state(),
        }
        checkpoint.save_atomic(state, path)


def run_training(
    cfg: TrainConfig,
    *,
    dataset: str,
    run_dir: Path,
    hooks: TrainHooks | None = None,
    only_folds: list[int] | None = None,
    finalize: bool = True,
    echo: Callable[[str], None] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train the walk-forward folds of `dataset` into `run_dir`, resuming if it holds state.

    only_folds: train just these folds here (e.g. one Celery task per fold); resume state then
    lives in fold<k>/resume.pt. finalize: when every fold is done, score the test set and write
    result.json + manifest.json (finalize_run). Returns result.json's content if finalized, else
    {"run_id", "run_dir", "folds": [fold summaries], "finished": False}.
    Raises NotFound / BadConfig before any work, Conflict if this run (fold) is already
    running, Cancelled when hooks.should_stop() turns true.
    """
    hooks = hooks or NoHooks()
    echo = echo or log.info
    progress = sys.stderr.isatty() if progress is None else progress
    run_dir = Path(run_dir)
    if (run_dir / checkpoint.MANIFEST).is_file():
        raise BadConfig(f"run {run_dir.name!r} already finished (see {run_dir / RESULT})")
    prep = prepare(cfg, dataset)
    folds = sorted(set(only_folds)) if only_folds else list(range(1, cfg.folds + 1))
    if folds[0] < 1 or folds[-1] > cfg.folds:
        raise BadConfig(f"folds must be between 1 and {cfg.folds}, got {only_folds}")
    run_dir.mkdir(parents=True, exist_ok=True)
    per_fold = only_folds is not None
    with contextlib.ExitStack() as stack:
        if not per_fold:
            stack.enter_context(locked(run_dir / ".train.lock", f"run {run_dir.name!r}"))
        _write_or_check_config(prep, run_dir)
        apply_threads(prep.runtime)
        run = _Run(prep, run_dir, hooks, echo, progress, per_fold)
        rt = prep.runtime.describe()
        run.emit(
            "started",
            message=f"{dataset}: {prep.rows} rows, folds {folds}, {rt['device']} amp={rt['amp']}",
            metrics={"rows": prep.rows, "test": int(prep.split.test.size), **rt},
        )
        echo(
            f"Run {run_dir.name}: dataset {dataset} ({prep.rows} rows, {_label_desc(cfg)}), "
            f"device {rt['device']}, amp {rt['amp']}, {rt['threads']} threads"
        )
        summaries = []
        run.first_fold = next(
            (k for k in folds if not (checkpoint.fold_dir(run_dir, k) / DONE).is_file()), 0
        )
        for k in folds:
            with (
                locked(
                    checkpoint.fold_dir(run_dir, k) / ".train.lock",
                    f"fold {k} of run {run_dir.name!r}",
                )
                if per_fold
                else contextlib.nullcontext()
            ):
                summaries.append(run.fold(k))
    all_done = all(
        (checkpoint.fold_dir(run_dir, k) / DONE).is_file() for k in range(1, cfg.folds + 1)
    )
    if finalize and all_done:
        return finalize_run(run_dir, echo=echo)
    return {"run_id": run_dir.name, "run_dir": str(run_dir), "folds": summaries, "finished": False}


def finalize_run(
    run_dir: Path, *, echo: Callable[[str], None] | None = None, table: bool = True
) -> dict[str, Any]:
    """Score the last fold's best model on the test set beside the baselines.

    Writes result.json, removes resume state, then writes manifest.json (last). Returns the
    result. Raises NotFound for an unknown run and BadConfig if a fold is unfinished.
    """
    echo = echo or log.info
    run_dir = Path(run_dir)
    doc = read_config(run_dir)
    cfg = TrainConfig(**doc["settings"])
    missing = [
        k for k in range(1, cfg.folds + 1) if not (checkpoint.fold_dir(run_dir, k) / DONE).is_file()
    ]
    if missing:
        raise BadConfig(f"run {run_dir.name!r}: folds {missing} have not finished")
    prep = prepare(cfg, doc["dataset"]["name"])
    if prep.dataset.sha256 != doc["dataset"]["sha256"]:
        raise BadConfig(f"dataset {prep.dataset.name!r} changed since run {run_dir.name!r} started")
    k = cfg.folds
    rt = prep.runtime
    apply_threads(rt)
    split = prep.split.fold(k)
    test = prep.split.test
    scaler = Scaler.load(checkpoint.fold_dir(run_dir, k))
    model = checkpoint.build_model(run_dir, k).to(rt.device)
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    summary = json.loads((checkpoint.fold_dir(run_dir, k) / DONE).read_text())
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
    folds = [
        json.loads((checkpoint.fold_dir(run_dir, j) / DONE).read_text())
        for j in range(1, cfg.folds + 1)
    ]
    result = {
        "run_id": run_dir.name,
        "dataset": prep.dataset.name,
        "fold": k,
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
    atomic.write_json(run_dir / RESULT, result)
    for stale in [run_dir / RESUME, *run_dir.glob(f"fold*/{RESUME}")]:
        stale.unlink(missing_ok=True)
    checkpoint.write_manifest(run_dir, {"serving_fold": k, "dataset_sha256": prep.dataset.sha256})
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
    rows = [("model", f"DeepLOB (fold {result['fold']})", result["model"])]
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
    run_dir = Path(run_dir)
    if not (run_dir / checkpoint.MANIFEST).is_file():
        raise BadConfig(f"run {run_dir.name!r} has not finished (no {checkpoint.MANIFEST})")
    return finalize_run(run_dir, echo=echo, table=False)


__all__ = [
    "Prepared",
    "Runtime",
    "Stepper",
    "finalize_run",
    "format_result",
    "make_model",
    "prepare",
    "read_config",
    "rescore_run",
    "resolve_runtime",
    "run_training",
]
