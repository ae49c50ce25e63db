"""The one owner of a run's directory and of the model store. Torch-free: the engine, the registry,
the gateway and inference all go through it (docs/ARCHITECTURE.md, "Run layout").

    <runs>/<run_id>/config.json                      dataset and settings, written first
    <runs>/<run_id>/metrics.jsonl                    one line per epoch
    <runs>/<run_id>/resume.pt                        resume state (a fold's own with parallel folds)
    <runs>/<run_id>/fold<k>/best_deeplob_fold<k>.pth state_dict
    <runs>/<run_id>/fold<k>/scaler_params.json       the input transform
    <runs>/<run_id>/fold<k>/model.json               the architecture sidecar
    <runs>/<run_id>/fold<k>/done.json                the fold's summary, once it finished
    <runs>/<run_id>/result.json                      test-set scores of the served fold
    <runs>/<run_id>/manifest.json                    written last: sha256 of every file
    <home>/models/active.json                        the promoted model (ModelPromoted)
    <home>/models/shadow.json                        the challenger, or none (ModelShadow)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import atomic
from shared.errors import Conflict, NotFound
from shared.events import ModelPromoted, ModelShadow

CONFIG = "config.json"
RESULT = "result.json"
MANIFEST = "manifest.json"
METRICS = "metrics.jsonl"
RESUME = "resume.pt"
SCALER = "scaler_params.json"
SIDECAR = "model.json"
DONE = "done.json"
LOCK = ".train.lock"


class FoldDir:
    """One fold's files."""

    def __init__(self, path: Path, k: int) -> None:
        self.path, self.k = path, k
        self.weights = path / f"best_deeplob_fold{k}.pth"
        self.scaler = path / SCALER
        self.sidecar = path / SIDECAR
        self.done = path / DONE
        self.resume = path / RESUME
        self.lock = path / LOCK

    def servable(self) -> list[str]:
        """Run-relative paths of the fold's servable checkpoint: weights, scaler, sidecar."""
        run = self.path.parent
        return [p.relative_to(run).as_posix() for p in (self.weights, self.scaler, self.sidecar)]

    def summary(self) -> dict[str, Any]:
        return json.loads(self.done.read_text())


@dataclass(frozen=True)
class VerifiedFold:
    """A fold whose servable files matched the run's manifest."""

    run: RunDir
    fold: int
    sha256: dict[str, str]  # run-relative path -> hex

    @property
    def files(self) -> FoldDir:
        return self.run.fold(self.fold)

    def sha_of(self, path: Path) -> str:
        return self.sha256[path.relative_to(self.run.path).as_posix()]

    @property
    def version(self) -> str:
        """The name inference reports for this model (shared.ml.checkpoint.ServingModel)."""
        return self.run.version(self.fold)


class RunDir:
    """A run's directory: where each file lies, its config, result and manifest."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.config = self.path / CONFIG
        self.result = self.path / RESULT
        self.manifest = self.path / MANIFEST
        self.metrics = self.path / METRICS
        self.resume = self.path / RESUME
        self.lock = self.path / LOCK

    def fold(self, k: int) -> FoldDir:
        return FoldDir(self.path / f"fold{k}", k)

    def version(self, fold: int) -> str:
        return f"{self.name}/fold{fold}"

    def exists(self) -> bool:
        return self.config.is_file()

    def finished(self) -> bool:
        """The manifest is written last: a run with one is complete."""
        return self.manifest.is_file()

    def unfinished_folds(self, folds: int) -> list[int]:
        return [k for k in range(1, folds + 1) if not self.fold(k).done.is_file()]

    def read_config(self) -> dict[str, Any]:
        if not self.exists():
            raise NotFound(f"unknown run {self.name!r}: no {CONFIG} in {self.path}")
        try:
            return json.loads(self.config.read_text())
        except ValueError as exc:
            raise Conflict(f"{self.name}: unreadable {CONFIG} ({exc})") from exc

    def read_result(self) -> dict[str, Any] | None:
        """result.json, or None when the run has none (or it does not read)."""
        try:
            return json.loads(self.result.read_text())
        except (OSError, ValueError):
            return None

    def drop_resume_state(self) -> None:
        for stale in [self.resume, *self.path.glob(f"fold*/{RESUME}")]:
            stale.unlink(missing_ok=True)

    def write_manifest(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """sha256 of every file of the run (not hidden files, locks, resume state or itself)."""
        files = {}
        for path in sorted(self.path.rglob("*")):
            rel = path.relative_to(self.path).as_posix()
            if not path.is_file() or rel == MANIFEST or path.name.startswith("."):
                continue
            if path.name == RESUME or path.name.endswith(".lock"):
                continue
            files[rel] = atomic.sha256_file(path)
        manifest = {
            "run_id": self.name,
            "created_at": datetime.now(UTC).isoformat(),
            "files": files,
            **(extra or {}),
        }
        atomic.write_json(self.manifest, manifest)
        return manifest

    def verify(self, fold: int) -> VerifiedFold:
        """The fold's servable files, each checked against manifest.json: the one check the
        registry (registering, promoting) and inference (before loading) make. Raises Conflict
        naming the run and the file that is missing, unlisted or different."""
        if not self.finished():
            raise Conflict(f"{self.name}: no {MANIFEST} (the run did not finish)")
        try:
            listed: dict[str, str] = json.loads(self.manifest.read_text())["files"]
            if not isinstance(listed, dict):
                raise TypeError("'files' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise Conflict(f"{self.name}: unreadable {MANIFEST} ({exc})") from exc
        shas: dict[str, str] = {}
        for rel in self.fold(fold).servable():
            path = self.path / rel
            if rel not in listed:
                raise Conflict(f"{self.name}: {rel} is not in the manifest")
            if not path.is_file():
                raise Conflict(f"{self.name}: {rel} is missing")
            actual = atomic.sha256_file(path)
            if actual != listed[rel]:
                raise Conflict(
                    f"{self.name}: {rel} does not match its manifest sha256 "
                    f"(expected {str(listed[rel])[:12]}…, found {actual[:12]}…)"
                )
            shas[rel] = actual
        return VerifiedFold(self, fold, shas)

    def fingerprint(self, fold: int) -> tuple[object, ...]:
        """Identity of the fold's served files on disk: changes whenever any is rewritten."""
        parts: list[object] = [str(self.path.resolve()), fold]
        for rel in (MANIFEST, *self.fold(fold).servable()):
            try:
                st = (self.path / rel).stat()
                parts.append((rel, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                parts.append((rel, None))
        return tuple(parts)


class ModelStore:
    """`<home>/models/`: the pointers to the promoted model and to the challenger (the shadow),
    which inference follows."""

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self.active_path = self.home / "models" / "active.json"
        self.shadow_path = self.home / "models" / "shadow.json"

    def read_active(self) -> ModelPromoted:
        """The pointer; raises ValueError (pydantic's) when it does not read, OSError when absent."""
        return ModelPromoted.model_validate_json(self.active_path.read_text())

    def active(self) -> ModelPromoted | None:
        """The promoted model, or None when there is none (or its pointer does not read)."""
        try:
            return self.read_active()
        except (OSError, ValueError):
            return None

    def point(self, msg: ModelPromoted) -> None:
        """Point at a promoted model, atomically: inference sees the old pointer or the new."""
        atomic.write_text(self.active_path, msg.model_dump_json() + "\n")

    def shadow(self) -> ModelShadow | None:
        """The challenger pointer (its `model` null once removed), or None when never set or
        unreadable."""
        try:
            return ModelShadow.model_validate_json(self.shadow_path.read_text())
        except (OSError, ValueError):
            return None

    def point_shadow(self, msg: ModelShadow) -> None:
        """Set or clear the challenger, atomically. A cleared pointer stays as a file: inference
        polls it, and sees the change."""
        atomic.write_text(self.shadow_path, msg.model_dump_json() + "\n")
