"""A fold's model files and the one loader that rebuilds a model from them.

Where they lie is shared/rundir.py's: the weights (state_dict only, loaded with
weights_only=True), the scaler and the JSON sidecar (the zoo model's name as "arch", and its
config), each checked against the run's manifest before serving.

load_serving_model(run_dir, fold=5) is what inference calls before it swaps a model in;
check_fold_loads(run_dir, fold) is the same check without the manifest, for promotion.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shared import atomic
from shared.data.schema import FEATURE_COLUMNS, WINDOW
from shared.errors import BadCheckpoint, Conflict, LobError
from shared.labels import CLASS_NAMES
from shared.ml import zoo
from shared.rundir import RunDir
from shared.scaler import Scaler


def write_sidecar(run_dir: Path, fold: int, cfg: zoo.ModelConfig) -> None:
    atomic.write_json(
        RunDir(run_dir).fold(fold).sidecar,
        {
            "arch": zoo.arch(cfg),
            "config": cfg.to_dict(),
            "fold": fold,
            "classes": list(CLASS_NAMES),
            "features": list(FEATURE_COLUMNS),
            "window": WINDOW,
            "torch": torch.__version__,
        },
    )


def read_sidecar(run_dir: Path, fold: int) -> zoo.ModelConfig:
    """The fold's typed model config; ValueError for an arch the zoo does not know."""
    data = json.loads(RunDir(run_dir).fold(fold).sidecar.read_text())
    return zoo.config_from_dict(str(data.get("arch")), data["config"])


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """state_dict only, as contiguous CPU tensors (channels_last or CUDA tensors load anywhere)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_atomic(state, path)


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to memory, then an atomic write: a full or read-only disk surfaces as a clear
    error naming the file (torch.save's own writer reports only "unexpected pos 64 vs 0")."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        atomic.write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise LobError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from exc


def build_model(run_dir: Path, fold: int, *, weights: bool = True) -> nn.Module:
    """Rebuild a fold's model from its sidecar (and weights): one loader for training and serving."""
    model = zoo.build(read_sidecar(run_dir, fold))
    if weights:
        path = RunDir(run_dir).fold(fold).weights
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model


@dataclass
class ServingModel:
    model: nn.Module  # a zoo model, eval mode, on CPU
    scaler: Scaler
    version: str
    run_dir: Path
    fold: int

    @torch.inference_mode()
    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        """Raw (B, 100, 40) or (100, 40) snapshots → (B, 3) probabilities (down, neutral, up)."""
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        x = self.scaler.transform(x)
        logits = self.model(torch.from_numpy(x).unsqueeze(1))  # (B, 1, 100, 40) → (B, 3)
        return torch.softmax(logits.float(), dim=1).numpy()


def load_serving_model(run_dir: Path, fold: int = 5) -> ServingModel:
    """Load fold `fold` of a finished run for serving, or raise BadCheckpoint saying why.

    Checks, in order: the manifest exists and lists the fold's files; each file's sha256 matches;
    then check_fold_loads's checks.
    """
    run = RunDir(run_dir)
    try:
        run.verify(fold)
    except Conflict as exc:
        raise BadCheckpoint(str(exc)) from exc
    model, scaler = _load_fold(run, fold)
    return ServingModel(
        model=model, scaler=scaler, version=run.version(fold), run_dir=run.path, fold=fold
    )


def check_fold_loads(run_dir: Path, fold: int) -> None:
    """Raise BadCheckpoint unless the fold's model loads and runs: the weights load with
    weights_only=True into the architecture model.json names, with strict keys and shapes (a
    sidecar naming another model than the weights' is refused, naming both); the scaler
    rebuilds; a forward pass on a zero window gives finite logits. The manifest is not checked
    here (RunDir.verify does that)."""
    _load_fold(RunDir(run_dir), fold)


def _load_fold(run: RunDir, fold: int) -> tuple[nn.Module, Scaler]:
    files = run.fold(fold)
    try:
        cfg = read_sidecar(run.path, fold)
        model = zoo.build(cfg)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadCheckpoint(f"{files.sidecar}: bad sidecar ({exc})") from exc
    wpath = files.weights
    try:
        state = torch.load(wpath, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means "not a plain state_dict"
        raise BadCheckpoint(f"{wpath}: not a loadable state_dict ({exc})") from exc
    if not isinstance(state, dict):
        raise BadCheckpoint(f"{wpath}: not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        name, seen = zoo.arch(cfg), zoo.weights_arch(state)
        # Another model's weights: naming it says more than listing every key it lacks.
        why = f"they look like a {seen}" if seen and seen != name else str(exc)
        raise BadCheckpoint(
            f"{wpath}: does not fit the model: model.json says {name} but the weights are not "
            f"a {name} ({why})"
        ) from exc
    try:
        scaler = Scaler.load(files.scaler)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadCheckpoint(f"{files.scaler}: {exc}") from exc
    model.eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 1, cfg.window, cfg.features))
    if out.shape != (2, cfg.classes) or not torch.isfinite(out).all():
        raise BadCheckpoint(f"{wpath}: test forward pass gave non-finite or mis-shaped output")
    return model, scaler
