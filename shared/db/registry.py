"""Model versions: register a run's fold, promote one. Torch-free.

Promotion (`promote`, the one for the CLI and the gateway alike) = the fold's files verified
against the run manifest, model_versions.promoted_at set, the model store's active.json pointed at
it (shared/rundir.py), and the same JSON PUBLISHed on `lob:models` (inference watches both).

The shadow (`set_shadow`): one challenger, verified the same way, pointed at by shadow.json and
announced as ModelShadow; inference scores it beside the champion and never publishes its
predictions. Promoting the challenger swaps the two: the old champion becomes the challenger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db import jobstate
from shared.db.models import Job, ModelVersion, utcnow
from shared.errors import Conflict, NotFound
from shared.events import MODELS_CHANNEL, ModelPromoted, ModelRef, ModelShadow
from shared.gate import Gate, verdict
from shared.jsonsafe import json_safe
from shared.rundir import ModelStore, RunDir

log = logging.getLogger(__name__)


def test_metrics_of(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return None
    # result.json (shared/ml/finalize.py finalize_run): the served fold's test scores under "model".
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
    run = RunDir(run_dir)
    verified = run.verify(fold)
    files = verified.files
    existing = session.scalar(
        select(ModelVersion).where(ModelVersion.job_id == job.id, ModelVersion.fold == fold)
    )
    if existing is not None:
        return existing
    version = ModelVersion(
        job_id=job.id,
        fold=fold,
        version=verified.version,
        run_dir=str(run.path.resolve()),
        weights_path=str(files.weights.resolve()),
        scaler_path=str(files.scaler.resolve()),
        weights_sha256=verified.sha_of(files.weights),
        scaler_sha256=verified.sha_of(files.scaler),
        test_metrics=test_metrics_of(run.read_result()),
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
    run = RunDir(run_dir)
    if not run.exists():
        raise NotFound(f"unknown run {run.name!r} (no {run.config})")
    result = run.read_result()
    if result is None or not isinstance(result.get("fold"), int):
        raise Conflict(f"{run.name}: no readable {run.result.name} (the run did not finish)")
    fold = int(result["fold"])
    run.verify(fold)
    job = session.get(Job, run.name)
    if job is None:
        try:
            settings = run.read_config()["settings"]
        except (KeyError, TypeError) as exc:
            raise Conflict(f"{run.name}: unreadable {run.config.name} ({exc})") from exc
        finished = result.get("finished_at")
        job = Job(
            id=run.name,
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
    return register_version(session, job, run.path, fold, gate=gate)


FoldCheck = Callable[[Path, int], None]  # raises when a fold's model does not load (torch side)


def model_ref(version: ModelVersion) -> ModelRef:
    return ModelRef(
        version_id=version.id, job_id=version.job_id, fold=version.fold, path=version.run_dir
    )


def promotion_message(version: ModelVersion) -> ModelPromoted:
    return ModelPromoted(**model_ref(version).model_dump())


@dataclass(frozen=True)
class Promotion:
    """What a promotion announces: the new champion and, when it was the challenger, the new
    challenger (the old champion, or none)."""

    promoted: ModelPromoted
    shadow: ModelShadow | None = None

    @property
    def messages(self) -> list[ModelPromoted | ModelShadow]:
        return [self.promoted] + ([self.shadow] if self.shadow is not None else [])


def publish(redis_url: str | None, *messages: ModelPromoted | ModelShadow) -> bool:
    """Announce on lob:models. Best effort: inference also polls the model store's pointers, so
    it cannot miss one."""
    if not redis_url or not messages:
        return False
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        for msg in messages:
            client.publish(MODELS_CHANNEL, msg.model_dump_json())
        return True
    except redis.RedisError as exc:
        log.warning("could not announce on %s: %s", MODELS_CHANNEL, exc)
        return False
    finally:
        client.close()


def _verified(session: Session, version_id: int, check: FoldCheck | None) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"unknown model version {version_id}")
    RunDir(version.run_dir).verify(version.fold)
    if check is not None:
        check(Path(version.run_dir), version.fold)
    return version


def promote(
    session: Session, version_id: int, *, store: ModelStore, check: FoldCheck | None = None
) -> Promotion:
    """Verify the version's files against its run manifest (and, with `check`, that its model
    loads), mark it promoted, commit, and point the model store at it. When it was the challenger,
    the old champion becomes the challenger. Returns what to announce (`publish`, or the gateway's
    async Redis): inference also polls the pointers, so an announcement lost is not a promotion
    lost. The gateway calls this through AsyncSession.run_sync."""
    version = _verified(session, version_id, check)
    previous = store.active()
    version.promoted_at = utcnow()
    session.commit()
    msg = promotion_message(version)
    shadow = store.shadow()
    swap = None
    if shadow is not None and shadow.model is not None and shadow.model.version_id == version.id:
        old = (
            ModelRef(**previous.model_dump(include=set(ModelRef.model_fields)))
            if previous is not None and previous.version_id != version.id
            else None
        )
        swap = ModelShadow(model=old)
        store.point_shadow(swap)
    store.point(msg)
    return Promotion(msg, swap)


def set_shadow(
    session: Session,
    version_id: int | None,
    *,
    store: ModelStore,
    check: FoldCheck | None = None,
) -> ModelShadow:
    """Make `version_id` the challenger (verified as a promotion is), or remove it (None).
    The champion cannot be its own challenger (Conflict)."""
    if version_id is None:
        msg = ModelShadow(model=None)
    else:
        active = store.active()
        if active is not None and active.version_id == version_id:
            raise Conflict(
                f"model version {version_id} is the champion; it cannot also be its shadow"
            )
        msg = ModelShadow(model=model_ref(_verified(session, version_id, check)))
    store.point_shadow(msg)
    return msg
