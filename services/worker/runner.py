"""What a training task does, as plain functions that know nothing of Celery.

run_job:       train the whole job (resuming if the run directory holds resume state), then
               register fold `folds` as a model version and promote it if the gate lets it.
run_fold:      one fold of a parallel job (config.parallel_folds), under its own lease.
finalize_job:  after every fold of a parallel job: score on the test set, register, promote.

All three have one shape (`_leased`): load the job, refuse it if it is finished, take the lease,
run, and map the outcome to a transition of shared/db/jobstate.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.worker import client
from services.worker.hooks import JobHooks, Reporter
from services.worker.lease import Lease
from services.worker.publisher import EventPublisher
from shared.config import get_settings
from shared.db import jobstate, registry
from shared.db.jobstate import Target
from shared.db.models import TERMINAL_STATUSES, FoldRun, Job
from shared.db.session import session_scope
from shared.errors import Cancelled, Conflict, LobError
from shared.gate import decide
from shared.jsonsafe import json_safe
from shared.rundir import ModelStore, RunDir
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
    status: str  # succeeded | failed | cancelled | requeued | lost | skipped | fanned_out
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


def run_of(job_id: str) -> RunDir:
    return RunDir(get_settings().storage.runs / job_id)


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LobError) else f"{type(exc).__name__}: {exc}"


def _send(target: Target, countdown: float | None = None) -> None:
    """Send the task that runs `target` again."""
    if target.fold is None:
        client.send_run(target.job_id, countdown=countdown)
    else:
        client.send_fold(target.job_id, target.fold, countdown=countdown)


class _Run:
    """One lease-holding task: its lease, its events and the engine's hooks."""

    def __init__(
        self, target: Target, lease: Lease, publisher: EventPublisher, report: Reporter | None
    ) -> None:
        self.target = target
        self.job_id = target.job_id
        self.lease = lease.start()
        self.publish = publisher.publish
        self.hooks = JobHooks(
            self.job_id, lease=lease, publisher=publisher, handoff=_handoff, report=report
        )

    def end(self, t: jobstate.Transition, message: str | None = None, **values: object) -> bool:
        """Give the lease up by `t`; a fold that ends (cancelled or failed) ends its job too."""
        done = self.lease.release(t, publish=self.publish, message=message, **values)
        if done and self.target.fold is not None and t in (jobstate.CANCELLED, jobstate.FAILED):
            jobstate.end_job(
                self.job_id,
                t,
                publish=self.publish,
                message=message,
                error=values.get("error"),
            )
        return done

    def stopped(self) -> Outcome:
        """The engine stopped at a batch boundary: say why, and leave the row right for it."""
        if self.lease.cancel_requested.is_set():
            if self.end(jobstate.CANCELLED, "cancelled by request; checkpoints kept"):
                return Outcome("cancelled")
        elif _handoff.is_set():
            values = {"dispatched_at": func.now()} if self.target.fold is None else {}
            if self.end(jobstate.REQUEUED, "worker shutting down: job requeued", **values):
                _send(self.target)
                return Outcome("requeued")
        self.lease.close()
        log.warning("%s: lease lost; another worker carries on", self.target)
        return Outcome("lost")

    def busy(self, exc: Conflict) -> Outcome:
        """The run directory is locked by a process that lost its lease but has not stopped yet
        (e.g. a frozen worker): try again shortly rather than fail the job."""
        values = {"dispatched_at": func.now()} if self.target.fold is None else {}
        if self.end(jobstate.REQUEUED, **values):
            _send(self.target, countdown=RETRY_BUSY_S)
        return Outcome("requeued", str(exc))

    def failed(self, exc: Exception) -> Outcome:
        log.exception("%s failed", self.target)
        where = "" if self.target.fold is None else f"fold {self.target.fold}: "
        message = where + _error_text(exc)
        self.end(jobstate.FAILED, message, error=message)
        return Outcome("failed", message)

    def close(self) -> None:
        self.lease.close()


Work = Callable[[_Run, Job, TrainConfig], Outcome]
Check = Callable[[Job, EventPublisher], Outcome | None]


def _leased(
    target: Target, worker: str, report: Reporter | None, check: Check, work: Work
) -> Outcome:
    """Load, refuse if finished (or if `check` refuses), take the lease, run `work`, and map what
    it raised to a transition. A whole job's failure is raised again for Celery to see; a fold's
    is not, so that its chord still reaches finalize (which then finds the job failed)."""
    settings = get_settings()
    with session_scope() as s:
        job = s.get(Job, target.job_id)
    if job is None:
        return Outcome("skipped", "no such job")
    if job.status in TERMINAL_STATUSES:
        return Outcome("skipped", f"already {job.status}")
    publisher = EventPublisher(settings.redis_url)
    try:
        refused = check(job, publisher)
        if refused is not None:
            return refused
        if not jobstate.take(target, worker, settings.lease_ttl_s):
            return Outcome("skipped", f"{target} is held by another worker, done or cancelled")
        cfg = TrainConfig.model_validate(job.config)
        run = _Run(
            target,
            Lease(target.job_id, worker, settings.lease_ttl_s, fold=target.fold),
            publisher,
            report,
        )
        try:
            return work(run, job, cfg)
        except Cancelled:
            return run.stopped()
        except Conflict as exc:
            return run.busy(exc)
        except Exception as exc:  # task boundary: record it on the row with the reason
            outcome = run.failed(exc)
            if target.fold is None:
                raise
            return outcome
        finally:
            run.close()
    finally:
        publisher.close()


def run_job(job_id: str, *, worker: str, report: Reporter | None = None) -> Outcome:
    def check(job: Job, publisher: EventPublisher) -> Outcome | None:
        if job.cancel_requested and jobstate.cancel_queued(job_id, publisher.publish):
            return Outcome("cancelled", "cancelled before it started")
        return None

    def work(run: _Run, job: Job, cfg: TrainConfig) -> Outcome:
        if cfg.parallel_folds and cfg.folds > 1:
            return _fan_out(run, cfg)
        rundir = run_of(job_id)
        # Finished before (a worker died between the manifest and the row): just record it.
        if not rundir.finished():
            from shared.ml.training import run_training

            run_training(cfg, dataset=job.dataset, run_dir=rundir.path, hooks=run.hooks)
        return _succeed(run, cfg, jobstate.SUCCEEDED)

    return _leased(Target(job_id), worker, report, check, work)


def _succeed(run: _Run, cfg: TrainConfig, t: jobstate.Transition) -> Outcome:
    """Register the serving fold (the last one: it trained on the most data) and promote it if
    the promotion gate lets it (shared/gate.py); otherwise it stays a candidate. A bad manifest
    raises, and the job fails with the reason."""
    settings = get_settings()
    rundir = run_of(run.job_id)
    result = rundir.read_result() or {}
    fold = int(result.get("fold", cfg.folds))
    gate = decide(result, cfg.promote)
    with session_scope() as s:
        job = s.get(Job, run.job_id)
        assert job is not None
        version_id = registry.register_version(s, job, rundir.path, fold, gate=gate).id
    if gate.promote:
        from shared.ml.check_fold import check_fold_loads

        with session_scope() as s:
            done = registry.promote(
                s, version_id, store=ModelStore(settings.lob_home), check=check_fold_loads
            )
        registry.publish(settings.redis_url, *done.messages)
    done = run.lease.release(
        t,
        publish=run.publish,
        metrics=json_safe(registry.test_metrics_of(result)),
        message=(
            f"model version {version_id} promoted"
            if gate.promote
            else f"model version {version_id} registered as a candidate: {gate.reason}"
        ),
        result=json_safe(result),
        batch=None,
    )
    return Outcome("succeeded" if done else "lost", f"model version {version_id}")


# Parallel folds ----------------------------------------------------------------------------------


def _fan_out(run: _Run, cfg: TrainConfig) -> Outcome:
    """Start the folds as a Celery group with a chord callback that finalizes the job."""
    with session_scope() as s:
        s.execute(
            insert(FoldRun)
            .values([{"job_id": run.job_id, "fold": k} for k in range(1, cfg.folds + 1)])
            .on_conflict_do_nothing()
        )
        todo = s.scalars(
            select(FoldRun.fold).where(
                FoldRun.job_id == run.job_id, FoldRun.status != jobstate.FOLD_FINISHED.target
            )
        ).all()
    sent = client.send_folds(run.job_id, list(todo))
    # The job stays `running` but nobody holds its lease while the folds run under theirs.
    run.lease.release(
        jobstate.FANNED_OUT,
        publish=run.publish,
        message=f"{sent} folds started in parallel",
        folds=cfg.folds,
    )
    return Outcome("fanned_out", f"folds {list(todo)}")


def run_fold(job_id: str, fold: int, *, worker: str, report: Reporter | None = None) -> Outcome:
    def check(job: Job, publisher: EventPublisher) -> Outcome | None:
        if job.cancel_requested:
            jobstate.end_job(
                job_id,
                jobstate.CANCELLED,
                publish=publisher.publish,
                message="cancelled by request",
            )
            return Outcome("cancelled", "cancelled before this fold started")
        return None

    def work(run: _Run, job: Job, cfg: TrainConfig) -> Outcome:
        from shared.ml.training import run_training

        run_training(
            cfg,
            dataset=job.dataset,
            run_dir=run_of(job_id).path,
            hooks=run.hooks,
            only_folds=[fold],
            finalize=False,
        )
        run.end(jobstate.FOLD_FINISHED)
        return Outcome("succeeded", f"fold {fold}")

    return _leased(Target(job_id, fold), worker, report, check, work)


def finalize_job(job_id: str, *, worker: str, report: Reporter | None = None) -> Outcome:
    def check(job: Job, publisher: EventPublisher) -> Outcome | None:
        with session_scope() as s:
            folds = dict(
                s.execute(
                    select(FoldRun.fold, FoldRun.status).where(FoldRun.job_id == job_id)
                ).all()
            )
        cfg = TrainConfig.model_validate(job.config)
        if len(folds) < cfg.folds or any(
            st != jobstate.FOLD_FINISHED.target for st in folds.values()
        ):
            return Outcome("skipped", f"folds not all done: {folds}")
        return None

    def work(run: _Run, job: Job, cfg: TrainConfig) -> Outcome:
        if not run_of(job_id).finished():
            from shared.ml.finalize import finalize_run

            finalize_run(run_of(job_id).path)
        return _succeed(run, cfg, jobstate.FINALISED)

    return _leased(Target(job_id), worker, report, check, work)
