"""The training engine end to end on a tiny synthetic dataset: files, events, cancel, resume."""

from __future__ import annotations

import fcntl
import json
import os
import re

import numpy as np
import pytest
import torch

from shared import atomic
from shared.data.store import open_dataset
from shared.errors import BadConfig, Cancelled, Conflict
from shared.events import JobEvent
from shared.ml.checkpoint import load_serving_model
from shared.ml.training import run_training
from shared.train_config import TrainConfig
from tests.support.trainkit import make_dataset

# Tiny but complete: 5 folds, with a label horizon short enough for 450 rows.
TINY = {"span": 20, "h": 10, "epochs": 2, "batch_size": 64, "patience": 5, "progress_every": 2}
EPOCH_LINE = re.compile(
    r"^Epoch (\d+)/(\d+) \| Train Loss: \d+\.\d{4} \| Acc: \d+\.\d{2}% \| Val Loss: \d+\.\d{4} \| "
    r"Val Acc: \d+\.\d{2}% \| Val F1: \d\.\d{4}"
)


class Recorder:
    """Hooks that keep every event and ask to stop after `stop_after` epoch events."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[JobEvent] = []
        self.stop_after = stop_after

    def on_event(self, event: JobEvent) -> None:
        self.events.append(event)

    def should_stop(self) -> bool:
        epochs = sum(e.type == "epoch" for e in self.events)
        return self.stop_after is not None and epochs >= self.stop_after

    def of(self, kind: str) -> list[JobEvent]:
        return [e for e in self.events if e.type == kind]


def metrics_lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_cancel_then_resume_to_a_finished_run(lob_home):
    # Given a tiny dataset and a run that is cancelled after its first epoch
    make_dataset("tiny", 450)
    cfg = TrainConfig(**TINY)
    run_dir = lob_home / "runs" / "r1"
    first = Recorder(stop_after=1)
    with pytest.raises(Cancelled):
        run_training(cfg, dataset="tiny", run_dir=run_dir, hooks=first, progress=False)

    # Then only that epoch was saved
    assert [(r["fold"], r["epoch"]) for r in metrics_lines(run_dir)] == [(1, 1)]
    state = torch.load(run_dir / "resume.pt", weights_only=True)
    assert (state["fold"], state["epoch"]) == (1, 1)
    assert not (run_dir / "fold1" / "done.json").exists()
    assert first.events[0].type == "started" and len(first.of("epoch")) == 1

    # When the run is started again on the same directory
    again, echoed = Recorder(), []
    result = run_training(cfg, dataset="tiny", run_dir=run_dir, hooks=again, echo=echoed.append)

    # Then it resumes at fold 1 epoch 2 and finishes every fold and epoch exactly once
    epochs = [(int(m[1]), int(m[2])) for line in echoed if (m := EPOCH_LINE.match(line))]
    assert epochs[0] == (2, 2) and len(epochs) == 9
    pairs = [(r["fold"], r["epoch"]) for r in metrics_lines(run_dir)]
    assert pairs == [(k, e) for k in range(1, 6) for e in (1, 2)]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_f1"} <= set(
        metrics_lines(run_dir)[0]
    )

    # Events: started, progress within epochs, one epoch event per epoch, fold_done per fold
    assert again.events[0].type == "started" and again.events[0].job_id == "r1"
    assert [e.fold for e in again.of("fold_done")] == [1, 2, 3, 4, 5]
    assert len(again.of("epoch")) == 9
    assert set(again.of("epoch")[0].metrics) >= {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "val_f1",
    }
    progress = again.of("progress")
    assert progress and all(
        e.batch is not None and e.batches and e.batch <= e.batches for e in progress
    )

    # config.json: every setting, the seed, the dataset sha256, the code version
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"] == cfg.model_dump(mode="json")
    assert config["seed"] == 0
    assert config["dataset"]["sha256"] == open_dataset("tiny").sha256
    assert config["code_version"]

    # Per fold: best weights, scaler, model sidecar
    for k in range(1, 6):
        for name in (f"best_deeplob_fold{k}.pth", "scaler_params.json", "model.json"):
            assert (run_dir / f"fold{k}" / name).is_file()

    # result.json: the test set scored for the model and both baselines, same rows
    stored = json.loads((run_dir / "result.json").read_text())
    assert stored == json.loads(json.dumps(result))
    n = stored["test"]["samples"]
    for scores in (stored["model"], *stored["baselines"].values()):
        assert scores["samples"] == n
        assert np.array(scores["confusion"]).sum() == n
        assert {"accuracy", "f1_macro", "f1_weighted"} <= set(scores)
    names = {"majority", "logistic_imbalance", "logistic_book", "gbm_book"}
    assert set(stored["baselines"]) == names
    # each beside the model in the backtest, with θ chosen on validation (or "no trades"), and
    # the model's calibration and the gate's verdict on the same rows
    assert set(stored["backtest"]["entries"]) == names | {"model"}
    for entry in stored["backtest"]["entries"].values():
        assert entry["no_trades"] == (entry["theta"] is None) == (entry["test"] is None)
        assert entry["validation"], "the θ grid is reported"
    calib = stored["model"]["calibration"]
    assert calib["log_loss"] > 0 and 0 <= calib["brier"] <= 2 and len(calib["reliability"]) == 10
    assert stored["gate"]["passed"] in (True, False) and stored["gate"]["reason"]
    assert stored["eval_version"] >= 2

    # manifest.json: sha256 of every file, written last; resume state removed
    manifest = json.loads((run_dir / "manifest.json").read_text())
    files = {
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == files
    for rel, digest in manifest["files"].items():
        assert atomic.sha256_file(run_dir / rel) == digest
    newest = max(os.stat(run_dir / rel).st_mtime_ns for rel in files)
    assert os.stat(run_dir / "manifest.json").st_mtime_ns >= newest
    assert not list(run_dir.rglob("resume.pt"))

    # The serving loader accepts the finished run
    served = load_serving_model(run_dir, fold=5)
    window = open_dataset("tiny").features[:100]
    probs = served.predict_proba(np.asarray(window))
    assert probs.shape == (1, 3) and abs(float(probs.sum()) - 1) < 1e-5


def test_early_stopping_and_a_single_fold(lob_home):
    # Given a learning rate high enough that validation loss soon stops improving
    make_dataset("tiny2", 450, seed=3)
    cfg = TrainConfig(**{**TINY, "epochs": 4, "patience": 1, "lr": 0.05, "select": "val_loss"})
    run_dir = lob_home / "runs" / "r2"
    # When only fold 2 is trained (as a per-fold job would)
    out = run_training(cfg, dataset="tiny2", run_dir=run_dir, only_folds=[2], progress=False)
    # Then nothing is finalised and the resume state is per fold
    assert out["finished"] is False and [f["fold"] for f in out["folds"]] == [2]
    assert (run_dir / "fold2" / "resume.pt").is_file() and not (run_dir / "resume.pt").exists()
    assert not (run_dir / "manifest.json").exists()
    # And epochs stop exactly where patience runs out
    lines = metrics_lines(run_dir)
    best, bad, expected = float("inf"), 0, cfg.epochs
    for line in lines:
        if line["val_loss"] < best:
            best, bad = line["val_loss"], 0
        else:
            bad += 1
        if bad >= cfg.patience:
            expected = line["epoch"]
            break
    assert [r["epoch"] for r in lines] == list(range(1, expected + 1))
    summary = out["folds"][0]
    assert summary["best_val_loss"] == min(r["val_loss"] for r in lines)
    assert summary["early_stopped"] == (expected < cfg.epochs)


def test_a_run_already_running_is_refused(lob_home):
    make_dataset("tiny3", 450, seed=4)
    run_dir = lob_home / "runs" / "r3"
    run_dir.mkdir(parents=True)
    fd = os.open(run_dir / ".train.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(Conflict, match="already running"):
            run_training(TrainConfig(**TINY), dataset="tiny3", run_dir=run_dir)
    finally:
        os.close(fd)
    assert not (run_dir / "metrics.jsonl").exists()


@pytest.mark.data
def test_trains_on_the_real_lobster_sample(lob_home, sample_data):
    # Given the real AAPL sample imported by the data layer (999 rows)
    from shared.data.importer import import_sources

    book = next((sample_data / "lobster-aapl").glob("*_orderbook_10.csv"))
    import_sources([book], name="aapl")
    # When one epoch per fold runs with a label horizon that fits 999 rows
    cfg = TrainConfig(**{**TINY, "epochs": 1})
    result = run_training(cfg, dataset="aapl", run_dir=lob_home / "runs" / "aapl", progress=False)
    # Then the run is scored on real test rows beside the baselines and servable
    assert result["dataset"] == "aapl" and result["test"]["samples"] > 0
    assert np.isfinite(result["model"]["loss"])
    assert load_serving_model(lob_home / "runs" / "aapl").version == "aapl/fold5"


def test_select_val_f1_keeps_the_epoch_with_the_best_validation_f1(lob_home):
    # Given a run that picks its best epoch by validation macro F1, with level-free inputs
    make_dataset("tiny3", 450, seed=4)
    cfg = TrainConfig(
        **{**TINY, "epochs": 4, "patience": 4, "lr": 0.01, "select": "val_f1", "norm": "mid_bps"}
    )
    run_dir = lob_home / "runs" / "r3"
    out = run_training(cfg, dataset="tiny3", run_dir=run_dir, only_folds=[1], progress=False)
    # Then the kept epoch is the first with the highest val F1, whatever its val loss
    lines = metrics_lines(run_dir)
    best = max(r["val_f1"] for r in lines)
    want = next(r for r in lines if r["val_f1"] == best)
    summary = out["folds"][0]
    assert summary["best_epoch"] == want["epoch"] and summary["best_val_f1"] == best
    assert [r["epoch"] for r in lines if r["best"]][-1] == want["epoch"]
    # and the fold's scaler is the level-free kind, so inference rebuilds the same transform
    saved = json.loads((run_dir / "fold1" / "scaler_params.json").read_text())
    assert saved["kind"] == "mid_bps"


@pytest.mark.parametrize(
    ("batching", "model"),
    [
        ("segments", "deeplob"),
        ("windows", "deeplob"),
        # the zoo resumes through the same engine: MLPLOB's head dropout, BiN-CTABL's fixed 0.1
        ("windows", "mlplob"),
        ("windows", "binctabl"),
    ],
)
def test_a_run_cancelled_mid_epoch_resumes_to_the_uninterrupted_weights(
    lob_home, monkeypatch, batching, model
):
    # One thread: the same floating-point order in both runs, so the weights compare exactly.
    for module in ("shared.ml.runtime", "shared.ml.training"):
        monkeypatch.setattr(f"{module}.choose_threads", lambda *a, **k: 1)
    make_dataset("mid", 450)
    cfg = TrainConfig(
        **{
            **TINY,
            "folds": 1,
            "batch_size": 16,
            "dropout_lstm": 0.3,
            "dropout_head": 0.2,
            "batching": batching,
            "model": model,
        }
    )
    whole = lob_home / "runs" / "whole"
    run_training(cfg, dataset="mid", run_dir=whole, hooks=Recorder(), progress=False)

    class MidEpoch(Recorder):
        """Stop at the third progress event of epoch 2: part-way through its batches."""

        def should_stop(self) -> bool:
            return sum(e.type == "progress" and e.epoch == 2 for e in self.events) >= 3

    # Given a run cancelled part-way through epoch 2
    cut = lob_home / "runs" / "cut"
    stopper = MidEpoch()
    with pytest.raises(Cancelled, match="epoch 2 batch"):
        run_training(cfg, dataset="mid", run_dir=cut, hooks=stopper, progress=False)
    progress = [e for e in stopper.of("progress") if e.epoch == 2]
    assert progress[-1].batch < progress[-1].batches  # it really stopped mid-epoch
    assert [(r["fold"], r["epoch"]) for r in metrics_lines(cut)] == [(1, 1)]

    # When it resumes, it retrains epoch 2 from its start and ends with the same weights
    run_training(cfg, dataset="mid", run_dir=cut, hooks=Recorder(), progress=False)
    assert [(r["fold"], r["epoch"]) for r in metrics_lines(cut)] == [(1, 1), (1, 2)]
    a = torch.load(whole / "fold1" / "best_deeplob_fold1.pth", weights_only=True)
    b = torch.load(cut / "fold1" / "best_deeplob_fold1.pth", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert metrics_lines(whole)[1]["train_loss"] == metrics_lines(cut)[1]["train_loss"]


def test_a_run_started_before_a_setting_existed_still_resumes(lob_home):
    # Given a run whose config.json predates the `batching` and `model` settings (cancelled
    # after an epoch)
    make_dataset("older", 450)
    cfg = TrainConfig(**{**TINY, "folds": 1})
    run_dir = lob_home / "runs" / "older"
    with pytest.raises(Cancelled):
        run_training(cfg, dataset="older", run_dir=run_dir, hooks=Recorder(stop_after=1))
    doc = json.loads((run_dir / "config.json").read_text())
    del doc["settings"]["batching"], doc["settings"]["model"]
    atomic.write_json(run_dir / "config.json", doc)

    # Then resuming it with other settings is still refused
    other = TrainConfig(**{**TINY, "folds": 1, "lr": 1e-3})
    with pytest.raises(BadConfig, match="different settings"):
        run_training(other, dataset="older", run_dir=run_dir)

    # When it is resumed with the settings it was started with, it finishes
    result = run_training(cfg, dataset="older", run_dir=run_dir, hooks=Recorder())
    assert result["model"]["samples"] > 0
    assert [(r["fold"], r["epoch"]) for r in metrics_lines(run_dir)] == [(1, 1), (1, 2)]
