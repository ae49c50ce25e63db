"""Recovery: give jobs of dead workers to live ones, and re-send messages the broker lost.

Runs in every worker process (started when the worker is ready, then every reaper_interval_s).
Each step claims its rows with one conditional UPDATE, so when several workers reap at once each
job is re-sent by exactly one of them; a duplicate message would be harmless anyway, because the
lease lets only one worker run a job.

1. A `running` job whose lease expired (its worker was SIGKILLed, lost power, ...) goes back to
   `queued` and is sent again; it resumes from its last epoch checkpoint. If a cancel was asked
   for meanwhile, it is marked cancelled instead.
2. A fold of a parallel job whose lease expired is sent again.
3. A `queued` job sent more than redispatch_after_s ago while the broker queue is empty lost its
   message (e.g. Redis restarted without persistence): it is sent again. So is a job whose first
   send failed because Redis was down when it was submitted.
4. A parallel job whose folds all succeeded but that was never finalized (the chord's state was
   in a Redis that restarted) gets its finalize task sent again.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import redis
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.worker import client
from shared.config import get_settings
from shared.db.models import FoldRun, Job
from shared.db.session import session_scope
from shared.events import JobEvent
from shared.events import job_channel as _channel

log = logging.getLogger(__name__)

_started = threading.Lock()
_thread: threading.Thread | None = None


def _announce(job_id: str, type_: str, message: str) -> None:
    url = get_settings().redis_url
    if not url:
        return
    r = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        r.publish(
            _channel(job_id), JobEvent(type=type_, job_id=job_id, message=message).model_dump_json()
        )  # type: ignore[arg-type]
    except redis.RedisError:
        pass  # events are best effort; the row is the record
    finally:
        r.close()


def reap_once() -> dict[str, list]:
    """One pass of every recovery step; returns what it did (for logs and tests)."""
    settings = get_settings()
    done: dict[str, list] = {
        "requeued": [],
        "cancelled": [],
        "folds": [],
        "resent": [],
        "finalize": [],
    }
    with session_scope() as s:
        cancelled = s.scalars(
            update(Job)
            .where(
                Job.status == "running",
                Job.lease_expires_at < func.now(),
                Job.cancel_requested.is_(True),
            )
            .values(status="cancelled", finished_at=func.now(), worker=None, lease_expires_at=None)
            .returning(Job.id)
        ).all()
        requeued = s.scalars(
            update(Job)
            .where(Job.status == "running", Job.lease_expires_at < func.now())
            .values(status="queued", worker=None, lease_expires_at=None, dispatched_at=func.now())
            .returning(Job.id)
        ).all()
        folds = s.execute(
            update(FoldRun)
            .where(FoldRun.status == "running", FoldRun.lease_expires_at < func.now())
            .values(status="queued", worker=None, lease_expires_at=None)
            .returning(FoldRun.job_id, FoldRun.fold)
        ).all()
    for job_id in cancelled:
        _announce(job_id, "cancelled", "cancelled by request (its worker had stopped)")
    for job_id in requeued:
        client.send_run(job_id)
        _announce(job_id, "queued", "its worker stopped heartbeating: requeued to resume")
    for job_id, fold in folds:
        client.sender().send_task(client.TASK_FOLD, args=[job_id, fold], queue=client.QUEUE)
    done.update(cancelled=list(cancelled), requeued=list(requeued), folds=[tuple(f) for f in folds])

    stale = timedelta(seconds=settings.redispatch_after_s)
    if client.queue_length() == 0:
        with session_scope() as s:
            resent = s.scalars(
                update(Job)
                .where(
                    Job.status == "queued",
                    Job.cancel_requested.is_(False),
                    or_(
                        Job.dispatched_at < func.now() - stale,
                        and_(Job.dispatched_at.is_(None), Job.created_at < func.now() - stale / 10),
                    ),
                )
                .values(dispatched_at=func.now())
                .returning(Job.id)
            ).all()
        for job_id in resent:
            client.send_run(job_id)
        done["resent"] = list(resent)

    with session_scope() as s:
        unfinished = (
            select(FoldRun.job_id).where(FoldRun.status != "succeeded").distinct().scalar_subquery()
        )
        last_fold = (
            select(func.max(FoldRun.finished_at)).where(FoldRun.job_id == Job.id).scalar_subquery()
        )
        finalize = s.scalars(
            update(Job)
            .where(
                Job.status == "running",
                Job.worker.is_(None),
                Job.id.in_(select(FoldRun.job_id)),
                Job.id.not_in(unfinished),
                last_fold < func.now() - stale,
                or_(Job.dispatched_at.is_(None), Job.dispatched_at < func.now() - stale),
            )
            .values(dispatched_at=func.now())
            .returning(Job.id)
        ).all()
    for job_id in finalize:
        client.sender().send_task(client.TASK_FINALIZE, args=[[], job_id], queue=client.QUEUE)
    done["finalize"] = list(finalize)

    if any(done.values()):
        log.info("reaper: %s", {k: v for k, v in done.items() if v})
    return done


def _loop(interval: float) -> None:
    stop = threading.Event()
    while True:
        try:
            reap_once()
        except (SQLAlchemyError, redis.RedisError, OSError) as exc:
            # PostgreSQL or Redis away: try again next round.
            log.warning("reaper: %s", exc)
        except Exception:  # thread boundary: log and keep the reaper alive
            log.exception("reaper pass failed")
        stop.wait(interval)


def start_background() -> None:
    """Start the reaper thread once per process."""
    global _thread
    with _started:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(
            target=_loop, args=(get_settings().reaper_interval_s,), name="lob-reaper", daemon=True
        )
        _thread.start()
