"""Bad `lob train` input fails before any work, with a clear message, exit 2, no run left."""

from __future__ import annotations

import pytest
import torch

from shared import atomic
from shared.labels import make_labels
from shared.splits import rows_needed
from shared.train_config import TrainConfig
from tests.support.trainkit import make_dataset


def assert_refused(proc, message: str, lob_home) -> None:
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ")
    runs = lob_home / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_unknown_dataset(lob_home, run_lob):
    proc = run_lob("train", "--dataset", "nope", "--quick")
    assert_refused(proc, "unknown dataset 'nope'", lob_home)


def test_too_small_for_five_folds_says_rows_needed(lob_home, run_lob):
    feats = make_dataset("small", 900)
    need = rows_needed(
        make_labels(feats, TrainConfig()), horizon=100, folds=5, test_fraction=0.1, window=100
    )
    assert need > 900
    proc = run_lob("train", "--dataset", "small", "--epochs", "1")
    assert_refused(proc, "too small for 5 folds of 100-row windows", lob_home)
    assert "900 rows give" in proc.stderr and f"at least {need} rows are needed" in proc.stderr


def test_labels_with_a_single_class(lob_home, run_lob):
    make_dataset("flat", 2000)
    # A barrier 100 sigmas wide is never touched: every label is NEUTRAL.
    proc = run_lob("train", "--dataset", "flat", "--k", "100", "--h", "10", "--span", "20")
    assert_refused(proc, "gives a single class (NEUTRAL)", lob_home)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda(lob_home, run_lob):
    make_dataset("any", 2000)
    proc = run_lob("train", "--dataset", "any", "--device", "cuda", "--quick")
    assert_refused(proc, "--device cuda: CUDA is not available", lob_home)


def test_resume_of_an_unknown_run(lob_home, run_lob):
    proc = run_lob("train", "--resume", "never-ran")
    assert_refused(proc, "unknown run 'never-ran'", lob_home)


def test_resume_of_a_finished_run(lob_home, run_lob):
    run = lob_home / "runs" / "done-run"
    atomic.write_json(run / "config.json", {"settings": {}, "dataset": {"name": "x"}})
    atomic.write_json(run / "manifest.json", {"files": {}})
    proc = run_lob("train", "--resume", "done-run")
    assert proc.returncode == 2
    assert "run 'done-run' already finished" in proc.stderr
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "manifest.json"]


def test_bad_flag_values(lob_home, run_lob):
    make_dataset("flags", 2000)
    proc = run_lob("train", "--dataset", "flags", "--labels", "coinflip", "--quick")
    assert_refused(proc, "labels", lob_home)
    proc = run_lob("train", "--dataset", "flags", "--run-id", "../escape", "--quick")
    assert_refused(proc, "invalid run id", lob_home)
    proc = run_lob("train", "--dataset", "flags", "--select", "val_acc", "--quick")
    assert_refused(proc, "--select: Input should be 'val_loss' or 'val_f1'", lob_home)
    proc = run_lob("train", "--dataset", "flags", "--batching", "rows", "--quick")
    assert_refused(proc, "--batching: Input should be 'windows' or 'segments'", lob_home)
    proc = run_lob("train", "--dataset", "flags", "--mirror", "--norm", "zscore", "--quick")
    assert_refused(proc, "--mirror: Value error, mirror needs norm 'mid_bps'", lob_home)


def test_every_lob_train_flag_defaults_to_the_setting_it_sets() -> None:
    # The CLI writes its flags out by hand; a default that drifts from TrainConfig's would make
    # `lob train` train something else than the API and the UI do with the same empty form.
    import inspect

    from shared.cli.train import train

    fields = TrainConfig.model_fields
    shared_names = [n for n in inspect.signature(train).parameters if n in fields]
    assert {"norm", "select", "batching", "mirror", "noise", "weight_decay", "lr"} <= set(
        shared_names
    )
    for name in shared_names:
        default = inspect.signature(train).parameters[name].default
        if name in ("amp", "compile", "max_rows", "quick", "promote"):
            continue  # tri-state or differently typed flags
        assert default == fields[name].default, name
