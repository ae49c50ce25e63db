"""What a training task does, as plain functions that know nothing of Celery.

run_job:       take the job's lease, train (resuming if the run directory holds resume state),
               then register fold `folds` as a model version and promote it.
run_fold:      one fold of a parallel job (config.parallel_folds), under its own lease.
finalize_job:  after every fold of a parallel job: score on the test set, register, promote.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from services.worker import client
from services.worker.hooks import JobHooks, Reporter
from services.worker.lease import Lease, take_fold, take_job
from services.worker.publisher import EventPublisher
from shared.config import get_settings
from shared.db import registry
from shared.db.models import TERMINAL_STATUSES, FoldRun, Job
from shared.db.session import session_scope
from shared.errors import Conflict, LobError
from shared.events import JobEvent
from shared.gate import decide
from shared.jsonsafe import json_safe
from shared.train_config import TrainConfig

log = logging.getLogger(__name__)

# Set when this worker process is shutting down: running jobs stop at the next batch boundary and
# go straight back to the queue instead of waiting for their lease to expire.
_handoff = threading.Event()
# Wait before retrying a job whose run directory another (stopping) process still holds.
RETRY_BUSY_S = 2.0


def request_handoff() -> None:
    _handoff.set()


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | cancelled | requeued | lost | skipped | fanned_out | ...
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


def run_dir_of(job_id: str) -> Path:
    return get_settings().storage.runs / job_id


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LobError) else f"{type(exc).__name__}: {exc}"


def _load(job_id: str) -> Job | None:
    with session_scope() as s:
        return s.get(Job, job_id)


def _cancel_if_queued(job_id: str) -> bool:
    with session_scope() as s:
        row = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(True))
            .values(status="cancelled", finished_at=func.now())
            .returning(Job.id)
        ).first()
    return row is not None


def _cancelled_exc() -> type[BaseException]:
    from shared.errors import Cancelled  # added to shared.errors with the engine

    return Cancelled


class _Run:
    """The shared machinery of one lease-holding task: lease, events, hooks."""

    def __init__(self, job_id: str, lease: Lease, report: Reporter | None) -> None:
        self.job_id = job_id
        self.lease = lease.start()
        self.publisher = EventPublisher(get_settings().redis_url)
        self.hooks = JobHooks(
            job_id, lease=lease, publisher=self.publisher, handoff=_handoff, report=report
        )

    def event(self, type_: str, **fields: Any) -> None:
        self.publisher.publish(JobEvent(type=type_, job_id=self.job_id, **fields))  # type: ignore[arg-type]

    def stopped(self, *, requeue: Callable[[], None]) -> Outcome:
        """The engine stopped at a batch boundary: say why, and leave the row right for it."""
        lease = self.lease
        if lease.cancel_requested.is_set():
            if lease.release(status="cancelled", finished_at=func.now()):
                self.event("cancelled", message="cancelled by request; checkpoints kept")
                return Outcome("cancelled")
        elif _handoff.is_set():
            values: dict[str, Any] = {"status": "queued"}
            if lease.fold is None:
                values["dispatched_at"] = func.now()
            if lease.release(**values):
                requeue()
                self.event("queued", message="worker shutting down: job requeued")
                return Outcome("requeued")
        lease.close()
        log.warning("job %s: lease lost; another worker carries on", self.job_id)
        return Outcome("lost")

    def close(self) -> None:
        self.lease.close()
        self.publisher.close()


def run_job(job_id: str, *, worker: str, report: Reporter | None = None) -> Outcome:
    settings = get_settings()
    job = _load(job_id)
    if job is None:
        return Outcome("skipped", "no such job")
    if job.status in TERMINAL_STATUSES:
        return Outcome("skipped", f"already {job.status}")
    if job.cancel_requested and _cancel_if_queued(job_id):
        return Outcome("cancelled", "cancelled before it started")
    if not take_job(job_id, worker, settings.lease_ttl_s):
        return Outcome("skipped", "another worker holds the job, or it was cancelled")

    cfg = TrainConfig.model_validate(job.config)
    run = _Run(job_id, Lease(job_id, worker, settings.lease_ttl_s), report)
    try:
        try:
            if cfg.parallel_folds and cfg.folds > 1:
                return _fan_out(run, cfg)
            run_dir = run_dir_of(job_id)
            # Finished before (a worker died between the manifest and the row): just record it.
            if not (run_dir / "manifest.json").is_file():
                from shared.ml.engine import run_training

                run_training(cfg, dataset=job.dataset, run_dir=run_dir, hooks=run.hooks)
        except _cancelled_exc():
            return run.stopped(requeue=lambda: client.send_run(job_id))
        except Conflict as exc:
            # The run directory is locked by a process that lost its lease but has not stopped
            # yet (e.g. a frozen worker): try again shortly rather than fail the job.
            if run.lease.release(status="queued", dispatched_at=func.now()):
                client.sender().send_task(
                    client.TASK_RUN, args=[job_id], queue=client.QUEUE, countdown=RETRY_BUSY_S
                )
            return Outcome("requeued", str(exc))
        except Exception as exc:  # task boundary: record on the job row, then let Celery see it
            _fail(run, exc)
            raise
        return _succeed(run, cfg)
    finally:
        run.close()


def _fail(run: _Run, exc: BaseException) -> None:
    log.exception("job %s failed", run.job_id)
    message = _error_text(exc)
    if run.lease.release(status="failed", finished_at=func.now(), error=message):
        run.event("failed", message=message)


def _succeed(run: _Run, cfg: TrainConfig) -> Outcome:
    """Register the serving fold (the last one: it trained on the most data) and promote it if
    the promotion gate lets it (shared/gate.py); otherwise it stays a candidate."""
    settings = get_settings()
    run_dir = run_dir_of(run.job_id)
    result = registry.read_result(run_dir) or {}
    fold = int(result.get("fold", cfg.folds))
    gate = decide(result, cfg.promote)
    try:
        with session_scope() as s:
            job = s.get(Job, run.job_id)
            assert job is not None
            version = registry.register_version(s, job, run_dir, fold, gate=gate)
            version_id = version.id
        if gate.promote:
            with session_scope() as s:
                registry.promote(
                    s, version_id, home=settings.lob_home, redis_url=settings.redis_url
                )
    except Exception as exc:  # a bad manifest fails the job with the reason
        _fail(run, exc)
        raise
    done = run.lease.release(
        status="succeeded", finished_at=func.now(), result=json_safe(result), batch=None
    )
    if done:
        run.event(
            "succeeded",
            metrics=json_safe(registry.test_metrics_of(result)),
            message=(
                f"model version {version_id} promoted"
                if gate.promote
                else f"model version {version_id} registered as a candidate: {gate.reason}"
            ),
        )
    return Outcome("succeeded" if done else "lost", f"model version {version_id}")


# Parallel folds ----------------------------------------------------------------------------------


def _fan_out(run: _Run, cfg: TrainConfig) -> Outcome:
    """Start the folds as a Celery group with a chord callback that finalizes the job."""
    from celery import chord, signature

    with session_scope() as s:
        s.execute(
            insert(FoldRun)
            .values([{"job_id": run.job_id, "fold": k} for k in range(1, cfg.folds + 1)])
            .on_conflict_do_nothing()
        )
        todo = s.scalars(
            select(FoldRun.fold).where(FoldRun.job_id == run.job_id, FoldRun.status != "succeeded")
        ).all()
    app = client.sender()
    header = [
        signature(client.TASK_FOLD, args=[run.job_id, k], queue=client.QUEUE, app=app) for k in todo
    ]
    callback = signature(client.TASK_FINALIZE, args=[run.job_id], queue=client.QUEUE, app=app)
    if header:
        chord(header, app=app)(callback)
    else:
        callback.apply_async(args=[[]])
    # The job stays `running` but nobody holds its lease while the folds run under theirs.
    run.lease.release(folds=cfg.folds)
    run.event("started", folds=cfg.folds, message=f"{len(header)} folds started in parallel")
    return Outcome("fanned_out", f"folds {list(todo)}")


def run_fold(job_id: str, fold: int, *, worker: str, report: Reporter | None = None) -> Outcome:
    settings = get_settings()
    job = _load(job_id)
    if job is None or job.status in TERMINAL_STATUSES:
        return Outcome("skipped", "job finished or missing")
    if job.cancel_requested:
        with session_scope() as s:
            done = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.not_in(TERMINAL_STATUSES))
                .values(status="cancelled", finished_at=func.now())
                .returning(Job.id)
            ).first()
        if done is not None:
            EventPublisher(settings.redis_url).publish(
                JobEvent(type="cancelled", job_id=job_id, message="cancelled by request")
            )
        return Outcome("cancelled", "cancelled before this fold started")
    if not take_fold(job_id, fold, worker, settings.lease_ttl_s):
        return Outcome("skipped", f"fold {fold} done or held by another worker")
    cfg = TrainConfig.model_validate(job.config)
    run = _Run(job_id, Lease(job_id, worker, settings.lease_ttl_s, fold=fold), report)
    try:
        from shared.ml.engine import run_training

        run_training(
            cfg,
            dataset=job.dataset,
            run_dir=run_dir_of(job_id),
            hooks=run.hooks,
            only_folds=[fold],
            finalize=False,
        )
    except _cancelled_exc():
        if run.lease.cancel_requested.is_set():
            run.lease.release(status="cancelled", finished_at=func.now())
            _finish_parallel_job(job_id, "cancelled", None, run)
            return Outcome("cancelled")
        return run.stopped(requeue=lambda: _send_fold(job_id, fold))
    except Conflict as exc:  # the fold's directory is still held by a stopping process
        if run.lease.release(status="queued"):
            client.sender().send_task(
                client.TASK_FOLD, args=[job_id, fold], queue=client.QUEUE, countdown=RETRY_BUSY_S
            )
        return Outcome("requeued", str(exc))
    except Exception as exc:  # task boundary: the fold and its job fail with the reason
        log.exception("job %s fold %d failed", job_id, fold)
        message = f"fold {fold}: {_error_text(exc)}"
        run.lease.release(status="failed", finished_at=func.now(), error=message)
        _finish_parallel_job(job_id, "failed", message, run)
        return Outcome("failed", message)
    finally:
        run.close()
    run.lease.release(status="succeeded", finished_at=func.now())
    return Outcome("succeeded", f"fold {fold}")


def _send_fold(job_id: str, fold: int) -> None:
    client.sender().send_task(client.TASK_FOLD, args=[job_id, fold], queue=client.QUEUE)


def _finish_parallel_job(job_id: str, status: str, error: str | None, run: _Run) -> None:
    with session_scope() as s:
        row = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(("queued", "running")))
            .values(status=status, finished_at=func.now(), error=error)
            .returning(Job.id)
        ).first()
    if row is not None:
        run.event(status, message=error or "cancelled by request; checkpoints kept")


def finalize_job(job_id: str, *, worker: str, report: Reporter | None = None) -> Outcome:
    settings = get_settings()
    job = _load(job_id)
    if job is None or job.status in TERMINAL_STATUSES:
        return Outcome("skipped", "job finished or missing")
    with session_scope() as s:
        folds = {
            fr.fold: fr.status for fr in s.scalars(select(FoldRun).where(FoldRun.job_id == job_id))
        }
    cfg = TrainConfig.model_validate(job.config)
    if len(folds) < cfg.folds or any(st != "succeeded" for st in folds.values()):
        return Outcome("skipped", f"folds not all done: {folds}")
    if not take_job(job_id, worker, settings.lease_ttl_s):
        return Outcome("skipped", "another worker is finalizing")
    run = _Run(job_id, Lease(job_id, worker, settings.lease_ttl_s), report)
    try:
        try:
            if not (run_dir_of(job_id) / "manifest.json").is_file():
                from shared.ml.engine import finalize_run

                finalize_run(run_dir_of(job_id))
        except Exception as exc:  # task boundary
            _fail(run, exc)
            raise
        return _succeed(run, cfg)
    finally:
        run.close()
