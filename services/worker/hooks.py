"""TrainHooks for a job run by a worker: progress to PostgreSQL, Celery (Flower) and Redis.

The engine calls `on_event` for every event and `should_stop` at every batch boundary, so both
must be cheap: should_stop only reads flags that the lease's heartbeat thread keeps current.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from services.worker.lease import Lease
from services.worker.publisher import EventPublisher
from shared.db.models import EpochMetric, Job
from shared.db.session import session_scope
from shared.errors import Cancelled
from shared.events import JobEvent
from shared.jsonsafe import finite

log = logging.getLogger(__name__)

METRIC_COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1")
# Events that move the job's position: written to PostgreSQL at once.
POSITION_EVENTS = ("started", "epoch", "fold_done")

Reporter = Callable[[dict[str, Any]], None]


class JobHooks:
    def __init__(
        self,
        job_id: str,
        *,
        lease: Lease,
        publisher: EventPublisher,
        handoff: threading.Event,
        report: Reporter | None = None,
    ) -> None:
        self.job_id = job_id
        self.lease = lease
        self.publisher = publisher
        self.handoff = handoff
        self.report = report

    # TrainHooks protocol -------------------------------------------------------------------------
    def on_event(self, event: JobEvent) -> None:
        if not self.lease.valid():
            # No longer ours: stop before the engine saves this epoch's resume checkpoint, so the
            # next holder redoes the epoch and writes its metrics row (none is ever skipped).
            raise Cancelled("lease lost")
        event = event.model_copy(update={"job_id": self.job_id})
        position = self._track(event)
        if event.type in POSITION_EVENTS:
            try:
                self._write(event, position)
            except DBAPIError as exc:
                # PostgreSQL is away: a short outage must not fail the job. Give the lease up and
                # stop; the reaper requeues the job and it resumes from its last epoch checkpoint.
                log.warning("job %s: cannot record progress (%s); stopping", self.job_id, exc)
                self.lease.lost.set()
                raise Cancelled("database unavailable") from exc
        self.publisher.publish(event)
        if self.report is not None:
            # Not "event": Celery's event state copies fields onto its Task, where `event` is a
            # method (Flower then fails on every later event of the task).
            self.report({"stage": event.type, **position, "metrics": event.metrics})

    def should_stop(self) -> bool:
        return (
            self.lease.cancel_requested.is_set() or self.handoff.is_set() or not self.lease.valid()
        )

    # ---------------------------------------------------------------------------------------------
    def _track(self, event: JobEvent) -> dict[str, Any]:
        """Update the run's position (lease.Progress) and return it as the jobs row's columns.

        The one place the engine's 1-based epoch becomes a count of finished epochs: a progress
        event names the epoch under way, an epoch event the one just finished. The gateway's
        Progress (services/api/jobs) reads the columns as they are, and the UI shows that.
        """
        p = self.lease.progress
        if event.fold is not None:
            p.fold = event.fold
        if event.type == "progress":
            p.epoch = (event.epoch or 1) - 1  # the epoch under way is not finished yet
            p.batch, p.batches = event.batch, event.batches
        elif event.type == "epoch":
            p.epoch, p.batch = event.epoch, 0
        elif event.type == "fold_done":
            p.epoch, p.batch = event.epochs, 0  # early stopping ends a fold: count it as whole
        position = p.values()
        if event.folds is not None:
            position["folds"] = event.folds
        if event.epochs is not None:
            position["epochs"] = event.epochs
        return position

    def _write(self, event: JobEvent, position: dict[str, Any]) -> None:
        with session_scope() as s:
            # Parallel folds share one progress row; the last writer wins, which is fine.
            s.execute(update(Job).where(Job.id == self.job_id).values(**position))
            if event.type == "epoch" and event.fold is not None and event.epoch is not None:
                metrics = event.metrics or {}
                values = {k: finite(metrics.get(k)) for k in METRIC_COLUMNS}
                extra = {
                    k: (finite(v) if isinstance(v, float) else v)
                    for k, v in metrics.items()
                    if k not in METRIC_COLUMNS
                }
                stmt = insert(EpochMetric).values(
                    job_id=self.job_id, fold=event.fold, epoch=event.epoch, extra=extra, **values
                )
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["job_id", "fold", "epoch"],
                        set_={**values, "extra": extra},
                    )
                )
