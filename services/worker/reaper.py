"""Recovery: give jobs of dead workers to live ones, and re-send messages the broker lost.

Runs in every worker process (started when the worker is ready, then every reaper_interval_s).
Each step claims its rows with one conditional UPDATE of shared/db/jobstate.py, so when several workers reap at once each
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
from sqlalchemy.exc import SQLAlchemyError

from services.worker import client
from services.worker.publisher import EventPublisher
from shared.config import get_settings
from shared.db import jobstate

log = logging.getLogger(__name__)

_started = threading.Lock()
_thread: threading.Thread | None = None


def reap_once() -> dict[str, list]:
    """One pass of every recovery step; returns what it did (for logs and tests)."""
    settings = get_settings()
    publisher = EventPublisher(settings.redis_url)
    try:
        cancelled, requeued, folds = jobstate.expire_leases(publisher.publish)
    finally:
        publisher.close()
    for job_id in requeued:
        client.send_run(job_id)
    for job_id, fold in folds:
        client.send_fold(job_id, fold)
    done: dict[str, list] = {
        "requeued": requeued,
        "cancelled": cancelled,
        "folds": folds,
        "resent": [],
        "finalize": [],
    }

    stale = timedelta(seconds=settings.redispatch_after_s)
    if client.queue_length() == 0:
        done["resent"] = jobstate.redispatch_due(stale)
        for job_id in done["resent"]:
            client.send_run(job_id)

    done["finalize"] = jobstate.finalise_due(stale)
    for job_id in done["finalize"]:
        client.send_finalize(job_id)

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
