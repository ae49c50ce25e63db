"""Model versions: verify a fold's files against the run manifest, register, promote. Torch-free.

Promotion = model_versions.promoted_at set, `$LOB_HOME/models/active.json` written atomically with
the ModelPromoted JSON, and the same JSON PUBLISHed on `lob:models` (inference watches both).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import atomic, run_layout
from shared.db import jobstate
from shared.db.models import Job, ModelVersion, utcnow
from shared.errors import Conflict, NotFound
from shared.events import MODELS_CHANNEL, ModelPromoted
from shared.gate import Gate, verdict
from shared.jsonsafe import json_safe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldFiles:
    run_dir: Path
    fold: int
    weights: Path
    scaler: Path
    weights_sha256: str
    scaler_sha256: str

    @property
    def version(self) -> str:
        """The name inference reports for this model (shared.ml.checkpoint.ServingModel.version)."""
        return f"{self.run_dir.name}/fold{self.fold}"


def verify_fold(run_dir: Path, fold: int) -> FoldFiles:
    """The fold's files, checked against manifest.json (run_layout.verify_fold, the same check
    inference makes before it loads a model); raises Conflict naming the file that differs."""
    run_dir = Path(run_dir)
    shas = run_layout.verify_fold(run_dir, fold)
    weights_rel, scaler_rel, _ = run_layout.fold_files(fold)
    return FoldFiles(
        run_dir=run_dir,
        fold=fold,
        weights=run_dir / weights_rel,
        scaler=run_dir / scaler_rel,
        weights_sha256=shas[weights_rel],
        scaler_sha256=shas[scaler_rel],
    )


def read_result(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / run_layout.RESULT
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def test_metrics_of(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return None
    # result.json (shared/ml/engine.py finalize_run): the served fold's test scores under "model".
    for key in ("model", "test_metrics"):
        value = result.get(key)
        if isinstance(value, dict):
            return value
    return None


def register_version(
    session: Session, job: Job, run_dir: Path, fold: int, *, gate: Gate | None = None
) -> ModelVersion:
    """Register fold `fold` of a finished run as a model version (idempotent per job and fold),
    with the promotion gate's verdict (shared/gate.py) when given."""
    files = verify_fold(run_dir, fold)
    existing = session.scalar(
        select(ModelVersion).where(ModelVersion.job_id == job.id, ModelVersion.fold == fold)
    )
    if existing is not None:
        return existing
    version = ModelVersion(
        job_id=job.id,
        fold=fold,
        version=files.version,
        run_dir=str(files.run_dir.resolve()),
        weights_path=str(files.weights.resolve()),
        scaler_path=str(files.scaler.resolve()),
        weights_sha256=files.weights_sha256,
        scaler_sha256=files.scaler_sha256,
        test_metrics=test_metrics_of(read_result(run_dir)),
        gate_passed=gate.passed if gate is not None else None,
        gate_reason=gate.reason if gate is not None else None,
    )
    session.add(version)
    session.flush()
    return version


def register_run(session: Session, run_dir: Path) -> ModelVersion:
    """Register the served fold of a finished run that was trained outside a job (`lob train`):
    its files are verified first, then it gets a succeeded job row under its own run id (none is
    made when a job already has that id) and a model version with its test metrics."""
    run_dir = Path(run_dir)
    if not (run_dir / run_layout.CONFIG).is_file():
        raise NotFound(f"unknown run {run_dir.name!r} (no {run_dir / run_layout.CONFIG})")
    result = read_result(run_dir)
    if result is None or not isinstance(result.get("fold"), int):
        raise Conflict(f"{run_dir.name}: no readable {run_layout.RESULT} (the run did not finish)")
    fold = int(result["fold"])
    verify_fold(run_dir, fold)
    job = session.get(Job, run_dir.name)
    if job is None:
        try:
            settings = json.loads((run_dir / run_layout.CONFIG).read_text())["settings"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Conflict(f"{run_dir.name}: unreadable {run_layout.CONFIG} ({exc})") from exc
        finished = result.get("finished_at")
        job = Job(
            id=run_dir.name,
            status=jobstate.SUCCEEDED.target,
            dataset=str(result.get("dataset", "")),
            config=json_safe(settings),
            result=json_safe(result),
            folds=fold,
            finished_at=datetime.fromisoformat(finished) if isinstance(finished, str) else None,
        )
        session.add(job)
        session.flush()
    passed, why = verdict(result)
    gate = Gate(passed, False, f"registered from a `lob train` run; {why}")
    return register_version(session, job, run_dir, fold, gate=gate)


def active_path(home: Path) -> Path:
    return Path(home) / "models" / "active.json"


def read_active(home: Path) -> ModelPromoted | None:
    path = active_path(home)
    if not path.is_file():
        return None
    try:
        return ModelPromoted.model_validate_json(path.read_text())
    except ValueError:
        return None


def promotion_message(version: ModelVersion) -> ModelPromoted:
    return ModelPromoted(
        version_id=version.id, job_id=version.job_id, fold=version.fold, path=version.run_dir
    )


def write_active(home: Path, msg: ModelPromoted) -> None:
    atomic.write_text(active_path(home), msg.model_dump_json() + "\n")


def publish_promoted(redis_url: str | None, msg: ModelPromoted) -> bool:
    """Announce on lob:models. Best effort: inference also polls active.json, so it cannot miss it."""
    if not redis_url:
        return False
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.publish(MODELS_CHANNEL, msg.model_dump_json())
        return True
    except redis.RedisError as exc:
        log.warning("could not publish the promotion on %s: %s", MODELS_CHANNEL, exc)
        return False
    finally:
        client.close()


def promote(
    session: Session, version_id: int, *, home: Path, redis_url: str | None
) -> ModelPromoted:
    """Verify, mark promoted, point active.json at it, announce. Commits the session."""
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"unknown model version {version_id}")
    verify_fold(Path(version.run_dir), version.fold)
    version.promoted_at = utcnow()
    session.commit()
    msg = promotion_message(version)
    write_active(home, msg)
    publish_promoted(redis_url, msg)
    return msg
