"""Where a run's servable files lie, and the one check of them against its manifest. Torch-free:
the registry (promotion), the gateway and inference (before loading) all call `verify_fold`.

    <run_dir>/config.json                         dataset and settings, written first
    <run_dir>/result.json                         test-set scores of the served fold
    <run_dir>/manifest.json                       written last: sha256 of every file
    <run_dir>/fold<k>/best_deeplob_fold<k>.pth    state_dict
    <run_dir>/fold<k>/scaler_params.json          the input transform
    <run_dir>/fold<k>/model.json                  the architecture sidecar
"""

from __future__ import annotations

import json
from pathlib import Path

from shared import atomic
from shared.errors import Conflict
from shared.scaler import FILE_NAME as SCALER_FILE

CONFIG = "config.json"
RESULT = "result.json"
MANIFEST = "manifest.json"
MODEL_FILE = "model.json"


def fold_dir(run_dir: Path, fold: int) -> Path:
    return Path(run_dir) / f"fold{fold}"


def weights_path(run_dir: Path, fold: int) -> Path:
    return fold_dir(run_dir, fold) / f"best_deeplob_fold{fold}.pth"


def fold_files(fold: int) -> list[str]:
    """Run-relative paths that make up one fold's servable checkpoint: weights, scaler, sidecar."""
    return [
        f"fold{fold}/best_deeplob_fold{fold}.pth",
        f"fold{fold}/{SCALER_FILE}",
        f"fold{fold}/{MODEL_FILE}",
    ]


def verify_fold(run_dir: Path, fold: int) -> dict[str, str]:
    """sha256 of each of the fold's files (run-relative path -> hex), after checking every one
    against manifest.json. Raises Conflict naming the run and the file that is missing, unlisted or
    different."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise Conflict(f"{run_dir.name}: no {MANIFEST} (the run did not finish)")
    try:
        listed: dict[str, str] = json.loads(manifest_path.read_text())["files"]
        if not isinstance(listed, dict):
            raise TypeError("'files' is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise Conflict(f"{run_dir.name}: unreadable {MANIFEST} ({exc})") from exc
    shas: dict[str, str] = {}
    for rel in fold_files(fold):
        path = run_dir / rel
        if rel not in listed:
            raise Conflict(f"{run_dir.name}: {rel} is not in the manifest")
        if not path.is_file():
            raise Conflict(f"{run_dir.name}: {rel} is missing")
        actual = atomic.sha256_file(path)
        if actual != listed[rel]:
            raise Conflict(
                f"{run_dir.name}: {rel} does not match its manifest sha256 "
                f"(expected {str(listed[rel])[:12]}…, found {actual[:12]}…)"
            )
        shas[rel] = actual
    return shas
