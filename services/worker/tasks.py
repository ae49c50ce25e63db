"""Celery tasks: thin wrappers that take ids and call services/worker/runner.py.

training.run(job_id)          the whole job (or, with parallel_folds, its fan-out)
training.fold(job_id, fold)   one fold of a parallel job
training.finalize(job_id)     the chord callback after all folds: test-set scoring, promotion
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task
from sqlalchemy.exc import SQLAlchemyError

from services.worker import runner
from services.worker.app import app
from services.worker.publisher import EventPublisher
from shared.config import get_settings
from shared.db import jobstate

log = logging.getLogger(__name__)


class JobTask(Task):
    """Base task: reports progress to Flower, and records a crash that happened outside the runner."""

    def worker_id(self) -> str:
        # Unique per process: a restarted worker with the same name is a different holder.
        return f"{self.request.hostname or 'worker'}/{os.getpid()}"

    def report(self, meta: dict[str, Any]) -> None:
        """Celery state for Flower: a PROGRESS result and a task-progress event."""
        try:
            self.update_state(state="PROGRESS", meta=meta)
            self.send_event("task-progress", **meta)
        except Exception as exc:  # Redis away: Flower misses an update, training goes on
            log.debug("could not report progress to Celery: %s", exc)

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # type: ignore[no-untyped-def]
        job_id = args[0] if args else kwargs.get("job_id")
        if not job_id:
            return
        publisher = EventPublisher(get_settings().redis_url)
        try:
            # Only a queued job nobody holds: the runner has recorded failures under a lease, and
            # a parallel job (running, unheld) is ended by its folds' own outcome.
            jobstate.end_job(
                job_id,
                jobstate.FAILED,
                publish=publisher.publish,
                states=("queued",),
                unheld=True,
                message=f"{type(exc).__name__}: {exc}",
                error=f"{type(exc).__name__}: {exc}",
            )
        except SQLAlchemyError:
            log.exception("job %s: could not record the failure", job_id)
        finally:
            publisher.close()


@app.task(name="training.run", bind=True, base=JobTask)
def run(self: JobTask, job_id: str) -> dict[str, str]:
    return runner.run_job(job_id, worker=self.worker_id(), report=self.report).as_dict()


@app.task(name="training.fold", bind=True, base=JobTask)
def fold(self: JobTask, job_id: str, fold: int) -> dict[str, str]:
    return runner.run_fold(job_id, fold, worker=self.worker_id(), report=self.report).as_dict()


@app.task(name="training.finalize", bind=True, base=JobTask)
def finalize(self: JobTask, fold_results: Any, job_id: str) -> dict[str, str]:
    # As a chord callback it receives the folds' results first; the reaper sends [] for them.
    return runner.finalize_job(job_id, worker=self.worker_id(), report=self.report).as_dict()
