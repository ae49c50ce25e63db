"""Checkpoint files of a run and the one loader that rebuilds a model from them.

Per fold, in `<run_dir>/fold<k>/`: `best_deeplob_fold<k>.pth` (state_dict only, loaded with
weights_only=True), `scaler_params.json`, and `model.json` (the JSON sidecar: architecture and
DeepLOBConfig). `<run_dir>/manifest.json`, written last, holds the sha256 of every file.

load_serving_model(run_dir, fold=5) is what inference calls before it swaps a model in.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared import atomic
from shared.data.schema import FEATURE_COLUMNS, WINDOW
from shared.errors import BadCheckpoint, Conflict, LobError
from shared.labels import CLASS_NAMES
from shared.ml.model import DeepLOB, DeepLOBConfig
from shared.run_layout import MANIFEST, MODEL_FILE, fold_dir, verify_fold, weights_path
from shared.scaler import FILE_NAME as SCALER_FILE
from shared.scaler import Scaler

ARCH = "deeplob"


def write_sidecar(run_dir: Path, fold: int, cfg: DeepLOBConfig) -> None:
    atomic.write_json(
        fold_dir(run_dir, fold) / MODEL_FILE,
        {
            "arch": ARCH,
            "config": cfg.to_dict(),
            "fold": fold,
            "classes": list(CLASS_NAMES),
            "features": list(FEATURE_COLUMNS),
            "window": WINDOW,
            "torch": torch.__version__,
        },
    )


def read_sidecar(run_dir: Path, fold: int) -> DeepLOBConfig:
    data = json.loads((fold_dir(run_dir, fold) / MODEL_FILE).read_text())
    if data.get("arch") != ARCH:
        raise ValueError(f"unknown architecture {data.get('arch')!r}")
    return DeepLOBConfig.from_dict(data["config"])


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


def build_model(run_dir: Path, fold: int, *, weights: bool = True) -> DeepLOB:
    """Rebuild a fold's model from its sidecar (and weights): one loader for training and serving."""
    model = DeepLOB(read_sidecar(run_dir, fold))
    if weights:
        state = torch.load(weights_path(run_dir, fold), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model


def write_manifest(run_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """sha256 of every file under run_dir (not hidden files, resume state or the manifest)."""
    run_dir = Path(run_dir)
    files = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if not path.is_file() or rel == MANIFEST or any(p.startswith(".") for p in path.parts[-1:]):
            continue
        if path.name == "resume.pt" or path.name.endswith(".lock"):
            continue
        files[rel] = atomic.sha256_file(path)
    manifest = {
        "run_id": run_dir.name,
        "created_at": datetime.now(UTC).isoformat(),
        "files": files,
        **(extra or {}),
    }
    atomic.write_json(run_dir / MANIFEST, manifest)
    return manifest


@dataclass
class ServingModel:
    model: DeepLOB  # eval mode, on CPU
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
    the weights load with weights_only=True into the sidecar's architecture with strict keys and
    shapes; the scaler file rebuilds; a forward pass on a zero window gives finite logits.
    """
    run_dir = Path(run_dir)
    try:
        verify_fold(run_dir, fold)
    except Conflict as exc:
        raise BadCheckpoint(str(exc)) from exc
    try:
        model = build_model(run_dir, fold, weights=False)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCheckpoint(f"{fold_dir(run_dir, fold) / MODEL_FILE}: bad sidecar ({exc})") from exc
    wpath = weights_path(run_dir, fold)
    try:
        state = torch.load(wpath, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means "not a plain state_dict"
        raise BadCheckpoint(f"{wpath}: not a loadable state_dict ({exc})") from exc
    if not isinstance(state, dict):
        raise BadCheckpoint(f"{wpath}: not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadCheckpoint(f"{wpath}: does not fit the model ({exc})") from exc
    try:
        scaler = Scaler.load(fold_dir(run_dir, fold) / SCALER_FILE)
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCheckpoint(f"{fold_dir(run_dir, fold) / SCALER_FILE}: {exc}") from exc
    model.eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, 1, model.cfg.window, model.cfg.features))
    if out.shape != (2, model.cfg.classes) or not torch.isfinite(out).all():
        raise BadCheckpoint(f"{wpath}: test forward pass gave non-finite or mis-shaped output")
    return ServingModel(
        model=model, scaler=scaler, version=f"{run_dir.name}/fold{fold}", run_dir=run_dir, fold=fold
    )
