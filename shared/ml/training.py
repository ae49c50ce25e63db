"""Walk-forward training of any zoo model: the one loop behind `lob train` and the Celery task.

lob train --dataset btc --quick
lob train --dataset btc --quick --model tlob

run_training(cfg, dataset=, run_dir=) trains the folds in order (each fold: restore, the epoch
loop, its summary) and, when all are done, calls shared.ml.finalize.finalize_run, which scores the
served fold on the test set beside the baselines. The files it writes are shared/rundir.py's.

A run killed at any point resumes from its last finished epoch: call run_training again with
the same run_dir (the CLI: `lob train --resume RUN_ID`). Resume state (resume.pt, after every
epoch: model, optimizer, epoch, early stopping, RNG states) is the run's own, or each fold's when
only some folds run in this process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import atomic
from shared.data.schema import WINDOW
from shared.errors import BadConfig, Cancelled
from shared.events import JobEvent
from shared.ml import checkpoint, zoo
from shared.ml.augment import Augment
from shared.ml.finalize import finalize_run
from shared.ml.losses import FocalLoss, inverse_frequency
from shared.ml.metrics import macro_f1
from shared.ml.prepare import Prepared, label_desc, prepare
from shared.ml.progress import ProgressBar
from shared.ml.run_files import (
    MetricsLog,
    fold_seed,
    locked,
    rng_state,
    seed_everything,
    set_rng_state,
)
from shared.ml.run_meta import write_or_check_config
from shared.ml.runtime import (
    Stepper,
    apply_threads,
    choose_threads,
    make_model,
    make_optimizer,
)
from shared.ml.segments import SegmentBatch, SegmentBatches
from shared.ml.windows import WindowBatches
from shared.rundir import RunDir
from shared.scaler import Scaler
from shared.splits import Fold
from shared.train_config import TrainConfig
from shared.training_hooks import NoHooks, TrainHooks

log = logging.getLogger(__name__)


@dataclass
class EarlyStop:
    best_score: float = math.inf  # what cfg.select minimises: val_loss, or -val_f1
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class _Fold:
    """One fold's training state, from _restore through the epoch loop to its summary."""

    k: int
    split: Fold
    scaler: Scaler
    alpha: np.ndarray
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    stepper: Stepper
    resume: Path
    stop: EarlyStop = field(default_factory=EarlyStop)
    start: int = 1
    stopped: bool = False


class _Run:
    def __init__(
        self,
        prep: Prepared,
        run: RunDir,
        hooks: TrainHooks,
        echo: Callable[[str], None],
        progress: bool,
        per_fold_resume: bool,
    ) -> None:
        self.prep = prep
        self.cfg = prep.cfg
        self.run = run
        self.hooks = hooks
        self.echo = echo
        self.progress = progress
        self.per_fold_resume = per_fold_resume
        self.metrics = MetricsLog(run.metrics)
        self.job_id = run.name
        self.first_fold = 0

    def emit(self, type_: str, **fields: Any) -> None:
        self.hooks.on_event(
            JobEvent(type=type_, job_id=self.job_id, folds=self.cfg.folds, **fields)
        )  # type: ignore[arg-type]

    def check_stop(self, where: str) -> None:
        if self.hooks.should_stop():
            raise Cancelled(f"training cancelled ({where}); the last finished epoch is kept")

    def fold(self, k: int) -> dict[str, Any]:
        """Train fold k (or resume it), or return its summary if it already finished."""
        files = self.run.fold(k)
        if files.done.is_file():
            return files.summary()
        st = self._restore(k)
        epoch = self._epochs(st)
        return self._summary(st, epoch)

    def _restore(self, k: int) -> _Fold:
        """Fit the fold's scaler, write its sidecar, build the model and optimiser, and resume
        from the fold's resume state when there is one."""
        cfg, prep, rt = self.cfg, self.prep, self.prep.runtime
        split = prep.split.fold(k)
        files = self.run.fold(k)
        scaler = Scaler.fit_windows(prep.features, split.train, WINDOW, kind=cfg.norm)
        scaler.save(files.scaler)
        mcfg = zoo.model_config(cfg)
        checkpoint.write_sidecar(self.run.path, k, mcfg)
        alpha = (
            np.asarray(cfg.class_weights, np.float64)
            if cfg.class_weights
            else inverse_frequency(prep.labels[split.train])
        )

        seed_everything(fold_seed(cfg.seed, k))
        model = make_model(rt, mcfg)
        optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
        loss_fn = FocalLoss(cfg.gamma, alpha).to(rt.device)
        st = _Fold(
            k=k,
            split=split,
            scaler=scaler,
            alpha=alpha,
            model=model,
            optimizer=optimizer,
            stepper=Stepper(model, optimizer, loss_fn, rt),
            resume=files.resume if self.per_fold_resume else self.run.resume,
        )
        if st.resume.is_file():
            state = torch.load(st.resume, map_location="cpu", weights_only=True)
            if state["fold"] == k:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                st.stop = EarlyStop(**state["early_stop"])
                st.start = int(state["epoch"]) + 1
                st.stopped = bool(state["stopped"])
                set_rng_state(state["rng"])
                self.echo(f"Resuming fold {k} after epoch {state['epoch']}")
        self.metrics.drop_after(k, st.start - 1)
        return st

    def _epochs(self, st: _Fold) -> int:
        """The epoch loop, from st.start until the last epoch or early stopping; returns the last
        epoch run. After each epoch: the best weights (when improved), metrics, resume state."""
        cfg, prep, rt, k, split = self.cfg, self.prep, self.prep.runtime, st.k, st.split
        augment = Augment.build(st.scaler, mirror=cfg.mirror, noise=cfg.noise, device=rt.device)
        train_b = prep.train_batches(st.scaler)
        val_b = prep.val_batches(st.scaler)
        self.echo(
            f"Fold {k}/{cfg.folds}: {split.train.size} train, {split.val.size} val samples "
            f"(alpha {', '.join(f'{a:.2f}' for a in st.alpha)})"
        )
        stop = st.stop
        epoch = st.start - 1
        for epoch in range(st.start, cfg.epochs + 1):
            if st.stopped:
                break
            if epoch > 1 or k != self.first_fold:
                self._recheck_threads()
            line = self._epoch(k, epoch, split, train_b, val_b, st.stepper, augment)
            score = line["val_loss"] if cfg.select == "val_loss" else -line["val_f1"]
            improved = score < stop.best_score
            if improved:
                checkpoint.save_weights(st.model, self.run.fold(k).weights)
                stop.best_score, stop.best_loss = score, line["val_loss"]
                stop.best_epoch, stop.bad_epochs = epoch, 0
                stop.best_metrics = {m: line[m] for m in ("val_loss", "val_acc", "val_f1")}
            else:
                stop.bad_epochs += 1
            line["best"] = improved
            st.stopped = stop.bad_epochs >= cfg.patience
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
            self._save_resume(st, epoch)
            if st.stopped:
                self.echo(f"Early stopping: no {cfg.select} improvement for {cfg.patience} epochs")
        return epoch

    def _summary(self, st: _Fold, epoch: int) -> dict[str, Any]:
        """done.json: the fold's best epoch and its validation scores; marks the fold finished."""
        cfg, k, split = self.cfg, st.k, st.split
        stop = st.stop
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
            "early_stopped": st.stopped,
            "alpha": [float(a) for a in st.alpha],
        }
        atomic.write_json(self.run.fold(k).done, summary)
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
        batches, items = train_b.epoch_batches(split.train, rng)
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
        _, val_items = val_b.epoch_batches(split.val, None)
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

    def _save_resume(self, st: _Fold, epoch: int) -> None:
        state = {
            "version": 1,
            "fold": st.k,
            "epoch": epoch,
            "stopped": st.stopped,
            "model": {n: t.detach().contiguous() for n, t in st.model.state_dict().items()},
            "optimizer": st.optimizer.state_dict(),
            "early_stop": asdict(st.stop),
            "rng": rng_state(),
        }
        checkpoint.save_atomic(state, st.resume)


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
    run = RunDir(run_dir)
    if run.finished():
        raise BadConfig(f"run {run.name!r} already finished (see {run.result})")
    prep = prepare(cfg, dataset)
    folds = sorted(set(only_folds)) if only_folds else list(range(1, cfg.folds + 1))
    if folds[0] < 1 or folds[-1] > cfg.folds:
        raise BadConfig(f"folds must be between 1 and {cfg.folds}, got {only_folds}")
    run.path.mkdir(parents=True, exist_ok=True)
    per_fold = only_folds is not None
    with contextlib.ExitStack() as stack:
        if not per_fold:
            stack.enter_context(locked(run.lock, f"run {run.name!r}"))
        write_or_check_config(prep, run)
        apply_threads(prep.runtime)
        job = _Run(prep, run, hooks, echo, progress, per_fold)
        rt = prep.runtime.describe()
        job.emit(
            "started",
            message=f"{dataset}: {prep.rows} rows, folds {folds}, {rt['device']} amp={rt['amp']}",
            metrics={"rows": prep.rows, "test": int(prep.split.test.size), **rt},
        )
        echo(
            f"Run {run.name}: dataset {dataset} ({prep.rows} rows, {label_desc(cfg)}), "
            f"device {rt['device']}, amp {rt['amp']}, {rt['threads']} threads"
        )
        summaries = []
        job.first_fold = next((k for k in folds if not run.fold(k).done.is_file()), 0)
        for k in folds:
            with (
                locked(run.fold(k).lock, f"fold {k} of run {run.name!r}")
                if per_fold
                else contextlib.nullcontext()
            ):
                summaries.append(job.fold(k))
    if finalize and not run.unfinished_folds(cfg.folds):
        return finalize_run(run.path, echo=echo)
    return {"run_id": run.name, "run_dir": str(run.path), "folds": summaries, "finished": False}
