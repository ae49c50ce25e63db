"""Job leases: a job (or one fold of a parallel job) runs on at most one worker at a time.

A worker takes a lease with one conditional UPDATE (jobstate.take: only if nobody holds an
unexpired one), and renews it from a heartbeat thread. Expiry is judged by PostgreSQL's clock, so
workers on other machines need no synchronised clocks. The holder also keeps a local, conservative deadline: if it
cannot renew in time (PostgreSQL unreachable, the reaper gave the job away), it stops at the next
batch boundary, before anyone else may start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from shared.db import jobstate

log = logging.getLogger(__name__)


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

    @property
    def target(self) -> jobstate.Target:
        return jobstate.Target(self.job_id, self.fold)

    def renew(self) -> None:
        sent = time.monotonic()
        cancel = jobstate.heartbeat(self.target, self.worker, self.ttl, self.progress.values())
        if cancel is None:
            log.warning("%s: lease lost (taken over or reset); stopping", self.target)
            self.lost.set()
            return
        # Conservative: measured from before the UPDATE was sent, and a quarter TTL short.
        self._deadline = sent + self.ttl * 0.75
        if cancel:
            self.cancel_requested.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except SQLAlchemyError as exc:  # PostgreSQL away: keep trying until the deadline
                log.warning("%s: heartbeat failed: %s", self.target, exc)
            if self.lost.is_set():
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.ttl)

    def release(
        self,
        t: jobstate.Transition,
        *,
        publish: jobstate.Publish | None = None,
        message: str | None = None,
        metrics: dict[str, Any] | None = None,
        **values: Any,
    ) -> bool:
        """Give the lease up by transition `t` (jobstate), setting `values` on the row in the same
        statement; False if it is no longer ours."""
        self.close()
        return jobstate.release(
            self.target,
            self.worker,
            t,
            publish=publish,
            message=message,
            metrics=metrics,
            **values,
        )
