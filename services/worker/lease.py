"""Job leases: a job (or one fold of a parallel job) runs on at most one worker at a time.

A worker takes a lease with one conditional UPDATE (only if nobody holds an unexpired one), and
renews it from a heartbeat thread. Expiry is judged by PostgreSQL's clock, so workers on other
machines need no synchronised clocks. The holder also keeps a local, conservative deadline: if it
cannot renew in time (PostgreSQL unreachable, the reaper gave the job away), it stops at the next
batch boundary, before anyone else may start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import SQLAlchemyError

from shared.db.models import FoldRun, Job
from shared.db.session import session_scope

log = logging.getLogger(__name__)


def _ttl(seconds: float):  # SQL interval for now() + ttl
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def take_job(job_id: str, worker: str, ttl: float) -> bool:
    """Take the job's lease if it is runnable and nobody holds an unexpired lease on it."""
    with session_scope() as s:
        row = s.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status.in_(("queued", "running")),
                Job.cancel_requested.is_(False),
                or_(Job.worker.is_(None), Job.lease_expires_at < func.now()),
            )
            .values(
                worker=worker,
                heartbeat_at=func.now(),
                lease_expires_at=func.now() + _ttl(ttl),
                attempts=Job.attempts + 1,
                status="running",
                started_at=func.coalesce(Job.started_at, func.now()),
                error=None,
            )
            .returning(Job.id)
        ).first()
    return row is not None


def take_fold(job_id: str, fold: int, worker: str, ttl: float) -> bool:
    with session_scope() as s:
        row = s.execute(
            update(FoldRun)
            .where(
                FoldRun.job_id == job_id,
                FoldRun.fold == fold,
                FoldRun.status.in_(("queued", "running")),
                or_(FoldRun.worker.is_(None), FoldRun.lease_expires_at < func.now()),
            )
            .values(
                worker=worker,
                heartbeat_at=func.now(),
                lease_expires_at=func.now() + _ttl(ttl),
                attempts=FoldRun.attempts + 1,
                status="running",
                started_at=func.coalesce(FoldRun.started_at, func.now()),
            )
            .returning(FoldRun.job_id)
        ).first()
    return row is not None


@dataclass
class Progress:
    """Where the run is, written with every heartbeat.

    fold: the fold in progress; epoch: epochs of that fold finished (0 at its start);
    batch / batches: the position within the epoch in progress.
    """

    fold: int | None = None
    epoch: int | None = None
    batch: int | None = None
    batches: int | None = None

    def values(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Lease:
    """A held lease, renewed by a heartbeat thread until `close()`."""

    job_id: str
    worker: str
    ttl: float
    fold: int | None = None  # set for one fold of a parallel job
    progress: Progress = field(default_factory=Progress)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    _deadline: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        # At least four renewals per TTL, so three can fail in a row before the lease is at risk;
        # and at least every 2 s, because the renewal also brings the cancel flag (UI latency).
        return min(self.ttl / 4, 2.0)

    def start(self) -> Lease:
        self._deadline = time.monotonic() + self.ttl * 0.75
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.job_id}", daemon=True)
        self._thread.start()
        return self

    def valid(self) -> bool:
        """False once the lease may have passed to someone else: stop work at once."""
        if self.lost.is_set():
            return False
        if time.monotonic() > self._deadline:
            self.lost.set()
            return False
        return True

    def renew(self) -> None:
        sent = time.monotonic()
        with session_scope() as s:
            if self.fold is None:
                stmt = (
                    update(Job)
                    .where(Job.id == self.job_id, Job.worker == self.worker)
                    .values(
                        heartbeat_at=func.now(),
                        lease_expires_at=func.now() + _ttl(self.ttl),
                        **self.progress.values(),
                    )
                    .returning(Job.cancel_requested)
                )
            else:
                # A fold's cancel flag is its job's; read it in the same statement.
                stmt = (
                    update(FoldRun)
                    .where(
                        and_(
                            FoldRun.job_id == self.job_id,
                            FoldRun.fold == self.fold,
                            FoldRun.worker == self.worker,
                        )
                    )
                    .values(heartbeat_at=func.now(), lease_expires_at=func.now() + _ttl(self.ttl))
                    .returning(
                        Job.__table__.select()
                        .with_only_columns(Job.cancel_requested)
                        .where(Job.id == self.job_id)
                        .scalar_subquery()
                    )
                )
            row = s.execute(stmt).first()
        if row is None:
            log.warning("job %s: lease lost (taken over or reset); stopping", self.job_id)
            self.lost.set()
            return
        # Conservative: measured from before the UPDATE was sent, and a quarter TTL short.
        self._deadline = sent + self.ttl * 0.75
        if row[0]:
            self.cancel_requested.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except SQLAlchemyError as exc:  # PostgreSQL away: keep trying until the deadline
                log.warning("job %s: heartbeat failed: %s", self.job_id, exc)
            if self.lost.is_set():
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.ttl)

    def release(self, **values: object) -> bool:
        """Give the lease up, setting `values` on the row in the same statement; False if not ours."""
        self.close()
        with session_scope() as s:
            model = Job if self.fold is None else FoldRun
            conds = [model.job_id == self.job_id] if model is FoldRun else [Job.id == self.job_id]
            if model is FoldRun:
                conds.append(FoldRun.fold == self.fold)
            row = s.execute(
                update(model)
                .where(*conds, model.worker == self.worker)
                .values(worker=None, lease_expires_at=None, **values)
                .returning(model.worker)
            ).first()
        return row is not None
