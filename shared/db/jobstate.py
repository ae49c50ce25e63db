"""The job state machine: every change of a job's (or a parallel fold's) status is a named
transition here, and nowhere else (docs/ARCHITECTURE.md "Job states").

    queued ──taken──▶ running ──succeeded / finalised──▶ succeeded
      ▲                │ │ │
      └───requeued─────┘ │ └──failed──▶ failed        (failed / cancelled also from queued)
                         └──cancelled──▶ cancelled

Each transition is one conditional UPDATE whose WHERE admits only the transition's source states
(and, for a lease holder, only while it still holds the lease), so of two processes racing for a
row at most one wins. The winner, and only the winner, publishes the transition's job event, so
a row and its event never disagree. A fold's transitions publish none: its job's do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, exists, func, or_, select, update

from shared.db.models import TERMINAL_STATUSES, FoldRun, Job
from shared.db.session import session_scope
from shared.events import JobEvent, JobEventType

# Where job events go (the worker's EventPublisher.publish); best effort, the row is the record.
Publish = Callable[[JobEvent], object]


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]  # the states it may leave
    target: str | None  # the state it enters; None keeps the state
    event: JobEventType | None = None  # the job event published when it applies

    def allowed(self, state: str) -> bool:
        return state in self.sources

    @property
    def ends(self) -> bool:
        return self.target in TERMINAL_STATUSES


def _t(
    name: str, sources: str, target: str | None, event: JobEventType | None = None
) -> Transition:
    return Transition(name, frozenset(sources.split()), target, event)


SUBMITTED = _t("queued", "", "queued")  # the INSERT of a new job (services/api/jobs/service.py)
TAKEN = _t("taken", "queued running", "running")  # running: only once its lease has expired
HEARTBEAT = _t("heartbeat", "running", None)
CANCEL_REQUESTED = _t("cancel_requested", "running", None)  # the holder stops at its next batch
CANCELLED = _t("cancelled", "queued running", "cancelled", "cancelled")
REQUEUED = _t("requeued", "running", "queued", "queued")
REDISPATCHED = _t("redispatched", "queued", None)  # its Celery message was lost: sent again
FAILED = _t("failed", "queued running", "failed", "failed")
SUCCEEDED = _t("succeeded", "running", "succeeded", "succeeded")
FANNED_OUT = _t("fanned_out", "running", None, "started")  # a parallel job's folds are sent
FOLD_FINISHED = _t("fold_finished", "running", "succeeded")
FINALISED = _t("finalised", "running", "succeeded", "succeeded")  # parallel: every fold done

TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        SUBMITTED,
        TAKEN,
        HEARTBEAT,
        CANCEL_REQUESTED,
        CANCELLED,
        REQUEUED,
        REDISPATCHED,
        FAILED,
        SUCCEEDED,
        FANNED_OUT,
        FOLD_FINISHED,
        FINALISED,
    )
}


def allowed(state: str) -> list[str]:
    """The transitions that may leave `state` (none from a terminal one)."""
    return [t.name for t in TRANSITIONS.values() if t.allowed(state)]


@dataclass(frozen=True)
class Target:
    """What a lease is on: a whole job, or one fold of a parallel job (`fold` set)."""

    job_id: str
    fold: int | None = None

    @property
    def table(self) -> type[Job] | type[FoldRun]:
        return Job if self.fold is None else FoldRun

    def key(self) -> list[ColumnElement[bool]]:
        if self.fold is None:
            return [Job.id == self.job_id]
        return [FoldRun.job_id == self.job_id, FoldRun.fold == self.fold]

    def __str__(self) -> str:
        return f"job {self.job_id}" + ("" if self.fold is None else f" fold {self.fold}")


def _ttl(seconds: float):  # SQL interval for now() + ttl
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def statement(
    t: Transition,
    table: type[Job] | type[FoldRun],
    *where: ColumnElement[bool],
    states: Sequence[str] | None = None,
    **values: Any,
) -> Update:
    """The UPDATE of `t` on the rows of `table` that match `where`: it applies only from t's
    sources (narrowed to `states`), and sets the target state (and finished_at for a terminal
    one). Callers add RETURNING to learn whether it applied."""
    sources = t.sources if states is None else t.sources & set(states)
    if t.target is not None:
        values["status"] = t.target
    if t.ends:
        values.setdefault("finished_at", func.now())
    return update(table).where(table.status.in_(sorted(sources)), *where).values(**values)


def event(t: Transition, job_id: str, **fields: Any) -> JobEvent:
    """The job event `t` publishes."""
    if t.event is None:
        raise ValueError(f"transition {t.name!r} publishes no event")
    return JobEvent(type=t.event, job_id=job_id, **fields)


def _apply(
    t: Transition,
    target: Target,
    *where: ColumnElement[bool],
    publish: Publish | None = None,
    message: str | None = None,
    metrics: dict[str, Any] | None = None,
    states: Sequence[str] | None = None,
    **values: Any,
) -> bool:
    if t is FINALISED:
        where = (*where, folds_done(target.job_id))
    stmt = statement(t, target.table, *target.key(), *where, states=states, **values)
    with session_scope() as s:
        applied = s.execute(stmt.returning(target.table.status)).first()
    if applied is None:
        return False
    if t.event is not None and publish is not None and target.fold is None:
        publish(event(t, target.job_id, message=message, metrics=metrics))
    return True


# A lease holder's transitions ----------------------------------------------------------------


def _free(table: type[Job] | type[FoldRun]) -> ColumnElement[bool]:
    return or_(table.worker.is_(None), table.lease_expires_at < func.now())


def take(target: Target, worker: str, ttl: float) -> bool:
    """taken: the lease, if the row is runnable and nobody holds an unexpired lease on it.
    Expiry is judged by PostgreSQL's clock, so workers need no synchronised clocks."""
    table = target.table
    where = [_free(table)]
    values: dict[str, Any] = {}
    if table is Job:
        where.append(Job.cancel_requested.is_(False))
        values["error"] = None
    return _apply(
        TAKEN,
        target,
        *where,
        worker=worker,
        heartbeat_at=func.now(),
        lease_expires_at=func.now() + _ttl(ttl),
        attempts=table.attempts + 1,
        started_at=func.coalesce(table.started_at, func.now()),
        **values,
    )


def heartbeat(
    target: Target, worker: str, ttl: float, progress: Mapping[str, int] | None = None
) -> bool | None:
    """Renew the lease (and write a job's progress). None: it is no longer ours; otherwise
    whether a cancel was asked for (a fold's cancel flag is its job's, read in the same UPDATE)."""
    table = target.table
    values: dict[str, Any] = {
        "heartbeat_at": func.now(),
        "lease_expires_at": func.now() + _ttl(ttl),
    }
    if table is Job:
        values.update(progress or {})
    flag = (
        Job.cancel_requested
        if table is Job
        else select(Job.cancel_requested).where(Job.id == target.job_id).scalar_subquery()
    )
    stmt = statement(HEARTBEAT, table, *target.key(), table.worker == worker, **values)
    with session_scope() as s:
        row = s.execute(stmt.returning(flag)).first()
    return None if row is None else bool(row[0])


def release(
    target: Target,
    worker: str,
    t: Transition,
    *,
    publish: Publish | None = None,
    message: str | None = None,
    metrics: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Give the lease up by transition `t`, setting `values` in the same statement; False (and
    nothing written) if the lease is no longer ours."""
    return _apply(
        t,
        target,
        target.table.worker == worker,
        publish=publish,
        message=message,
        metrics=metrics,
        worker=None,
        lease_expires_at=None,
        **values,
    )


# Transitions nobody holds a lease for ------------------------------------------------------------


def cancel_queued(job_id: str, publish: Publish | None = None) -> bool:
    """cancelled: a queued job whose cancel was asked for never starts."""
    return _apply(
        CANCELLED,
        Target(job_id),
        Job.cancel_requested.is_(True),
        states=("queued",),
        publish=publish,
        message="cancelled before it started",
    )


def end_job(
    job_id: str,
    t: Transition,
    *,
    publish: Publish | None = None,
    message: str | None = None,
    states: Sequence[str] | None = None,
    unheld: bool = False,
    **values: Any,
) -> bool:
    """cancelled or failed, for a job nobody holds (a parallel job whose fold ended it, or a task
    that crashed before it took the lease)."""
    where = [Job.worker.is_(None)] if unheld else []
    return _apply(
        t, Target(job_id), *where, publish=publish, message=message, states=states, **values
    )


def cancel_now(job_id: str) -> Update:
    """cancelled, as a statement for the gateway's own (async) session: a queued job ends at once
    (flagged too, so a message already on its way is refused)."""
    return statement(CANCELLED, Job, Job.id == job_id, states=("queued",), cancel_requested=True)


def request_cancel(job_id: str) -> Update:
    """cancel_requested, as a statement for the gateway's session, for when `cancel_now` did not
    apply: it flags a running job, whose holder stops at its next batch boundary."""
    return statement(CANCEL_REQUESTED, Job, Job.id == job_id, cancel_requested=True)


REAPED_CANCELLED = "cancelled by request (its worker had stopped)"
REAPED_REQUEUED = "its worker stopped heartbeating: requeued to resume"


def expire_leases(publish: Publish | None = None) -> tuple[list[str], list[str], list[tuple]]:
    """For the reaper: running jobs and folds whose lease expired (their worker died). A job whose
    cancel was asked for is cancelled; the others, and folds, are requeued. Returns (cancelled
    job ids, requeued job ids, requeued (job id, fold)); the caller sends the requeued again."""
    lease_off: dict[str, Any] = {"worker": None, "lease_expires_at": None}
    expired = Job.lease_expires_at < func.now()
    with session_scope() as s:
        cancelled = s.scalars(
            statement(
                CANCELLED,
                Job,
                expired,
                Job.cancel_requested.is_(True),
                states=("running",),
                **lease_off,
            ).returning(Job.id)
        ).all()
        requeued = s.scalars(
            statement(REQUEUED, Job, expired, dispatched_at=func.now(), **lease_off).returning(
                Job.id
            )
        ).all()
        folds = s.execute(
            statement(
                REQUEUED, FoldRun, FoldRun.lease_expires_at < func.now(), **lease_off
            ).returning(FoldRun.job_id, FoldRun.fold)
        ).all()
    if publish is not None:
        for job_id in cancelled:
            publish(event(CANCELLED, job_id, message=REAPED_CANCELLED))
        for job_id in requeued:
            publish(event(REQUEUED, job_id, message=REAPED_REQUEUED))
    return list(cancelled), list(requeued), [tuple(f) for f in folds]


def redispatch_due(stale: timedelta) -> list[str]:
    """redispatched: queued jobs whose message was sent more than `stale` ago (or whose first send
    failed); the caller sends them again, and only when the broker queue is empty."""
    with session_scope() as s:
        return list(
            s.scalars(
                statement(
                    REDISPATCHED,
                    Job,
                    Job.cancel_requested.is_(False),
                    or_(
                        Job.dispatched_at < func.now() - stale,
                        and_(Job.dispatched_at.is_(None), Job.created_at < func.now() - stale / 10),
                    ),
                    dispatched_at=func.now(),
                ).returning(Job.id)
            ).all()
        )


def folds_done(job_id: Any) -> ColumnElement[bool]:
    """The guard of `finalised`: the job has folds, and every one of them finished."""
    return and_(
        exists().where(FoldRun.job_id == job_id),
        ~exists().where(FoldRun.job_id == job_id, FoldRun.status != FOLD_FINISHED.target),
    )


def finalise_due(stale: timedelta) -> list[str]:
    """Parallel jobs whose folds all finished more than `stale` ago but that were never finalised
    (the chord's state was in a Redis that restarted); the caller sends their finalize task."""
    last_fold = (
        select(func.max(FoldRun.finished_at)).where(FoldRun.job_id == Job.id).scalar_subquery()
    )
    with session_scope() as s:
        return list(
            s.scalars(
                update(Job)
                .where(
                    Job.status.in_(sorted(FINALISED.sources)),
                    Job.worker.is_(None),
                    folds_done(Job.id),
                    last_fold < func.now() - stale,
                    or_(Job.dispatched_at.is_(None), Job.dispatched_at < func.now() - stale),
                )
                .values(dispatched_at=func.now())
                .returning(Job.id)
            ).all()
        )
