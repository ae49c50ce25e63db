"""The job state machine (shared/db/jobstate.py): what each state allows, checked on a real
PostgreSQL with no worker, no broker and no Redis (events are collected in a list)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from shared.config import get_settings
from shared.db import jobstate, session
from shared.db.jobstate import Target
from shared.db.models import JOB_STATUSES, TERMINAL_STATUSES, FoldRun, Job, utcnow
from shared.events import JobEvent


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    for cached in (get_settings, session.get_engine, session.session_factory):
        cached.cache_clear()
    engine = sa.create_engine(database_url)
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.delete(Job))
    engine.dispose()
    for cached in (get_settings, session.get_engine, session.session_factory):
        cached.cache_clear()


def _job(
    engine: sa.Engine,
    status: str,
    *,
    worker: str | None = None,
    expires_in: float = 60,
    cancel: bool = False,
    job_id: str = "j1",
) -> Target:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Job).values(
                id=job_id,
                status=status,
                dataset="d",
                config={},
                worker=worker,
                lease_expires_at=utcnow() + timedelta(seconds=expires_in) if worker else None,
                cancel_requested=cancel,
            )
        )
    return Target(job_id)


def _row(engine: sa.Engine, job_id: str = "j1") -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(Job).where(Job.id == job_id)).one()


def test_a_finished_job_allows_no_transition_and_each_live_state_allows_its_own() -> None:
    for state in TERMINAL_STATUSES:
        assert jobstate.allowed(state) == []
    assert set(jobstate.allowed("queued")) == {"taken", "cancelled", "redispatched", "failed"}
    assert set(jobstate.allowed("running")) == {
        "taken",  # only once its lease expired: checked below
        "heartbeat",
        "cancel_requested",
        "cancelled",
        "requeued",
        "failed",
        "succeeded",
        "fanned_out",
        "fold_finished",
        "finalised",
    }
    # Every transition that sets a state sets a known one, and only the ones that end a job
    # stamp finished_at.
    for t in jobstate.TRANSITIONS.values():
        assert t.target is None or t.target in JOB_STATUSES
        assert t.ends == (t.target in TERMINAL_STATUSES)


@pytest.mark.parametrize("state", JOB_STATUSES)
def test_a_lease_is_taken_only_from_a_runnable_unheld_job(db: sa.Engine, state: str) -> None:
    target = _job(db, state)
    assert jobstate.take(target, "w1", ttl=30) == (state in ("queued", "running"))
    row = _row(db)
    if state in ("queued", "running"):
        assert (row.status, row.worker, row.attempts) == ("running", "w1", 1)
        # and nobody else while that lease is valid
        assert not jobstate.take(target, "w2", ttl=30)
    else:
        assert (row.status, row.worker, row.attempts) == (state, None, 0)


def test_an_expired_lease_can_be_taken_over_and_a_cancelled_job_cannot_be_taken(
    db: sa.Engine,
) -> None:
    target = _job(db, "running", worker="dead", expires_in=-1)
    assert jobstate.take(target, "w2", ttl=30)
    assert _row(db).worker == "w2"
    flagged = _job(db, "queued", cancel=True, job_id="j2")
    assert not jobstate.take(flagged, "w1", ttl=30)


@pytest.mark.parametrize(
    "t", [jobstate.SUCCEEDED, jobstate.FAILED, jobstate.CANCELLED, jobstate.REQUEUED]
)
@pytest.mark.parametrize("state", JOB_STATUSES)
def test_a_holder_ends_its_lease_only_by_a_transition_its_state_allows(
    db: sa.Engine, state: str, t: jobstate.Transition
) -> None:
    target = _job(db, state, worker="w1")
    events: list[JobEvent] = []
    # Not the holder: never applies, whatever the state
    assert not jobstate.release(target, "w2", t, publish=events.append)
    applied = jobstate.release(target, "w1", t, publish=events.append, message="why")
    assert applied == t.allowed(state)
    row = _row(db)
    if applied:
        assert (row.status, row.worker, row.lease_expires_at) == (t.target, None, None)
        assert (row.finished_at is not None) == t.ends
        # The row and its event together, and only for the winner
        assert [(e.type, e.job_id, e.message) for e in events] == [(t.event, "j1", "why")]
    else:
        assert (row.status, row.worker) == (state, "w1")
        assert events == []


def test_a_heartbeat_renews_only_the_holder_and_brings_the_cancel_flag(db: sa.Engine) -> None:
    target = _job(db, "running", worker="w1")
    assert jobstate.heartbeat(target, "w2", ttl=30) is None
    assert jobstate.heartbeat(target, "w1", ttl=30, progress={"fold": 2, "epoch": 1}) is False
    assert (_row(db).fold, _row(db).epoch) == (2, 1)
    with db.begin() as conn:
        conn.execute(jobstate.request_cancel("j1"))
    assert jobstate.heartbeat(target, "w1", ttl=30) is True


def test_a_fold_heartbeat_reads_its_jobs_cancel_flag(db: sa.Engine) -> None:
    _job(db, "running", cancel=True)
    with db.begin() as conn:
        conn.execute(sa.insert(FoldRun).values(job_id="j1", fold=1, status="queued"))
    fold = Target("j1", 1)
    assert jobstate.take(fold, "w1", ttl=30)
    assert jobstate.heartbeat(fold, "w1", ttl=30) is True
    # A fold's transitions publish nothing: its job's do
    events: list[JobEvent] = []
    assert jobstate.release(fold, "w1", jobstate.FOLD_FINISHED, publish=events.append)
    assert events == []


@pytest.mark.parametrize("state", JOB_STATUSES)
def test_the_gateways_cancel_ends_a_queued_job_and_flags_a_running_one(
    db: sa.Engine, state: str
) -> None:
    _job(db, state)
    with db.begin() as conn:
        now = conn.execute(jobstate.cancel_now("j1").returning(Job.id)).first()
        flagged = (
            None if now else conn.execute(jobstate.request_cancel("j1").returning(Job.id)).first()
        )
    row = _row(db)
    assert (now is not None) == (state == "queued")
    assert (flagged is not None) == (state == "running")
    assert row.status == ("cancelled" if state == "queued" else state)
    assert row.cancel_requested == (state in ("queued", "running"))


def test_a_parallel_job_is_finalised_only_once_every_fold_finished(db: sa.Engine) -> None:
    target = _job(db, "running", worker="w1")
    with db.begin() as conn:
        conn.execute(
            sa.insert(FoldRun).values(
                [
                    {"job_id": "j1", "fold": 1, "status": "succeeded"},
                    {"job_id": "j1", "fold": 2, "status": "running"},
                ]
            )
        )
    assert not jobstate.release(target, "w1", jobstate.FINALISED)
    with db.begin() as conn:
        conn.execute(sa.update(FoldRun).values(status="succeeded"))
    assert jobstate.release(target, "w1", jobstate.FINALISED)
    assert _row(db).status == "succeeded"


def test_the_reaper_requeues_expired_jobs_cancels_flagged_ones_and_leaves_live_leases(
    db: sa.Engine,
) -> None:
    _job(db, "running", worker="dead", expires_in=-1, job_id="expired")
    _job(db, "running", worker="dead", expires_in=-1, cancel=True, job_id="flagged")
    _job(db, "running", worker="alive", job_id="alive")
    _job(db, "queued", job_id="waiting")
    events: list[JobEvent] = []
    cancelled, requeued, folds = jobstate.expire_leases(events.append)
    assert (cancelled, requeued, folds) == (["flagged"], ["expired"], [])
    assert {e.job_id: e.type for e in events} == {"flagged": "cancelled", "expired": "queued"}
    assert _row(db, "expired").status == "queued" and _row(db, "expired").worker is None
    assert _row(db, "flagged").status == "cancelled"
    assert (_row(db, "alive").status, _row(db, "alive").worker) == ("running", "alive")
    assert _row(db, "waiting").status == "queued"


def test_a_crashed_task_fails_only_a_queued_job_nobody_holds(db: sa.Engine) -> None:
    _job(db, "queued", job_id="q")
    _job(db, "running", job_id="fanned")  # a parallel job: running, its folds hold the leases
    for job_id in ("q", "fanned"):
        jobstate.end_job(job_id, jobstate.FAILED, states=("queued",), unheld=True, error="boom")
    assert (_row(db, "q").status, _row(db, "q").error) == ("failed", "boom")
    assert _row(db, "fanned").status == "running"
