"""A run's metadata: config.json (every setting, seed, dataset sha256, labels, split, model,
runtime, code version), written when the run starts and checked when it resumes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared import atomic
from shared.data.schema import WINDOW
from shared.errors import BadConfig
from shared.labels import class_counts
from shared.ml import zoo
from shared.ml.prepare import Prepared, label_desc
from shared.rundir import RunDir
from shared.train_config import TrainConfig


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


def _config_doc(prep: Prepared, run_id: str) -> dict[str, Any]:
    cfg = prep.cfg
    return {
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "settings": cfg.model_dump(mode="json"),
        "seed": cfg.seed,
        "dataset": {
            "name": prep.dataset.name,
            "sha256": prep.dataset.sha256,
            "rows": prep.dataset.rows,
            "rows_used": prep.rows,
        },
        "labels": {"definition": label_desc(cfg), "counts": class_counts(prep.labels)},
        "split": {
            "folds": [
                {"fold": f.k, "train": int(f.train.size), "val": int(f.val.size)}
                for f in prep.split.folds
            ],
            "test": int(prep.split.test.size),
            "horizon": cfg.horizon,
            "window": WINDOW,
        },
        "model": {"arch": cfg.model, "config": zoo.model_config(cfg).to_dict()},
        "runtime": prep.runtime.describe(),
        "code_version": code_version(),
    }


def write_or_check_config(prep: Prepared, run: RunDir) -> None:
    """Write config.json for a new run; for a resumed one, check it was started the same way."""
    if run.exists():
        old = run.read_config()
        # Read through TrainConfig: a run started before a setting existed gets its default,
        # which is what that run did (new settings default to the old behaviour).
        if TrainConfig(**old["settings"]).model_dump(mode="json") != prep.cfg.model_dump(
            mode="json"
        ):
            raise BadConfig(f"run {run.name!r} was started with different settings")
        if old["dataset"]["sha256"] != prep.dataset.sha256:
            raise BadConfig(f"dataset {prep.dataset.name!r} changed since run {run.name!r} started")
        return
    atomic.write_json(run.config, _config_doc(prep, run.name))
