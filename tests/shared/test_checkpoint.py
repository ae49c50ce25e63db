"""The serving loader: accepts a sound run, refuses every broken one with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shared import atomic
from shared.errors import BadCheckpoint
from shared.ml.checkpoint import (
    build_model,
    check_fold_loads,
    load_serving_model,
    read_sidecar,
    save_weights,
    write_sidecar,
)
from shared.ml.model import DeepLOB
from shared.ml.tlob import TLOBConfig
from shared.rundir import RunDir
from shared.scaler import Scaler


def weights_path(run: Path, fold: int) -> Path:
    return RunDir(run).fold(fold).weights


def write_manifest(run: Path) -> None:
    RunDir(run).write_manifest()


def finished_run(root: Path, fold: int = 5, channels_last: bool = True) -> Path:
    """A run directory as the engine leaves it, built without training."""
    run = root / "run-a"
    torch.manual_seed(0)
    model = DeepLOB()
    if channels_last:  # the engine trains in channels_last; the file must not care
        model = model.to(memory_format=torch.channels_last)
    write_sidecar(run, fold, model.cfg)
    save_weights(model, weights_path(run, fold))
    rng = np.random.default_rng(0)
    Scaler.fit(rng.normal(100, 3, (500, 40)).astype(np.float32), 0, 500).save(
        RunDir(run).fold(fold).scaler
    )
    atomic.write_json(run / "result.json", {"fold": fold})
    write_manifest(run)
    return run


def test_loads_a_sound_run(tmp_path):
    run = finished_run(tmp_path)
    served = load_serving_model(run, fold=5)
    assert not served.model.training
    assert served.version == "run-a/fold5" and served.fold == 5 and served.run_dir == run
    assert next(served.model.parameters()).device.type == "cpu"
    windows = np.random.default_rng(1).normal(100, 3, (4, 100, 40)).astype(np.float32)
    probs = served.predict_proba(windows)
    assert probs.shape == (4, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    # One loader rebuilds the same model for training and for serving.
    rebuilt = build_model(run, 5).eval()
    x = torch.from_numpy(served.scaler.transform(windows)).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(torch.softmax(rebuilt(x), 1).numpy(), probs)


def test_missing_manifest(tmp_path):
    run = finished_run(tmp_path)
    (run / "manifest.json").unlink()
    with pytest.raises(BadCheckpoint, match=r"no manifest\.json"):
        load_serving_model(run)


def test_sha256_mismatch(tmp_path):
    run = finished_run(tmp_path)
    path = weights_path(run, 5)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BadCheckpoint, match="does not match its manifest sha256"):
        load_serving_model(run)


def test_missing_fold(tmp_path):
    run = finished_run(tmp_path)
    with pytest.raises(
        BadCheckpoint, match=r"fold3/best_deeplob_fold3\.pth is not in the manifest"
    ):
        load_serving_model(run, fold=3)


def rewrite(run: Path, state) -> None:
    """Replace the weights and re-sign the manifest, as a bad training job could."""
    torch.save(state, weights_path(run, 5))
    write_manifest(run)


def test_weights_that_do_not_fit(tmp_path):
    run = finished_run(tmp_path)
    state = torch.load(weights_path(run, 5), weights_only=True)
    state.pop("fc1.bias")
    rewrite(run, state)
    with pytest.raises(BadCheckpoint, match="does not fit the model"):
        load_serving_model(run)


def test_a_sidecar_naming_another_model_than_the_weights_is_refused_naming_it(tmp_path):
    # Given DeepLOB weights whose model.json says tlob (the manifest re-signed to match)
    run = finished_run(tmp_path)
    write_sidecar(run, 5, TLOBConfig())
    write_manifest(run)
    # Then serving and the promotion check both refuse it, naming what each file says
    want = r"model\.json says tlob but the weights are not a tlob \(they look like a deeplob\)"
    with pytest.raises(BadCheckpoint, match=want):
        load_serving_model(run)
    with pytest.raises(BadCheckpoint, match=want):
        check_fold_loads(run, 5)


def test_an_unknown_arch_in_the_sidecar_is_refused_naming_the_known_ones(tmp_path):
    run = finished_run(tmp_path)
    path = RunDir(run).fold(5).sidecar
    path.write_text(json.dumps({**json.loads(path.read_text()), "arch": "lstm"}))
    with pytest.raises(ValueError, match=r"unknown architecture 'lstm'.*deeplob, tlob"):
        read_sidecar(run, 5)
    with pytest.raises(BadCheckpoint, match="bad sidecar"):
        check_fold_loads(run, 5)


def test_the_promotion_check_accepts_a_sound_fold(tmp_path):
    check_fold_loads(finished_run(tmp_path), 5)


def test_nan_weights_fail_the_test_forward_pass(tmp_path):
    run = finished_run(tmp_path)
    state = torch.load(weights_path(run, 5), weights_only=True)
    state["fc1.weight"][0, 0] = float("nan")
    rewrite(run, state)
    with pytest.raises(BadCheckpoint, match="non-finite"):
        load_serving_model(run)


class NotWeights:
    pass


def test_a_pickled_object_is_refused_by_weights_only(tmp_path):
    run = finished_run(tmp_path)
    rewrite(run, {"model": NotWeights()})
    with pytest.raises(BadCheckpoint, match="not a loadable state_dict"):
        load_serving_model(run)


def test_a_broken_scaler(tmp_path):
    run = finished_run(tmp_path)
    path = RunDir(run).fold(5).scaler
    data = json.loads(path.read_text())
    data["std"][0] = -1.0
    path.write_text(json.dumps(data))
    write_manifest(run)
    with pytest.raises(BadCheckpoint, match=r"scaler_params\.json"):
        load_serving_model(run)
