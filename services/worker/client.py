"""Send training tasks by name. Torch-free and task-free: the gateway and the reaper use this.

Sending by name means the sender never imports the task code (or torch).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from shared.config import get_settings
from shared.errors import BadConfig

QUEUE = "training"
TASK_RUN = "training.run"
TASK_FOLD = "training.fold"
TASK_FINALIZE = "training.finalize"


def broker_url(url: str | None = None) -> str:
    url = url or get_settings().redis_url
    if not url:
        raise BadConfig("REDIS_URL is not set (lob up starts an embedded Redis for you)")
    return url


def base_config(url: str) -> dict[str, Any]:
    """Settings both the senders and the workers must agree on."""
    return {
        "broker_url": url,
        "result_backend": url,
        # JSON only: a pickle payload on the queue must never be executed.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": QUEUE,
        "task_routes": {"training.*": {"queue": QUEUE}},
        "broker_transport_options": {
            # Unacked messages come back only after this long. Longer than any job (a week), so a
            # slow job is never handed to a second worker by the broker; quick recovery from a
            # dead worker is the lease reaper's job, not the broker's.
            "visibility_timeout": 7 * 24 * 3600,
            # Fail fast instead of hanging a request when Redis is down.
            "socket_connect_timeout": 2,
        },
        "result_backend_transport_options": {"socket_connect_timeout": 2},
        "broker_connection_retry_on_startup": True,
        # Flower shows a task from the moment it is sent (state SENT), not only once started.
        "task_send_sent_event": True,
        "enable_utc": True,
    }


@lru_cache(maxsize=4)
def sender(url: str | None = None) -> Celery:
    """A Celery app that only sends (no task modules imported)."""
    url = broker_url(url)
    app = Celery("lob-sender")
    app.conf.update(base_config(url))
    # A submit must not hang on a dead broker: fail and let the reaper send it later.
    app.conf.task_publish_retry = False
    return app


def send_run(job_id: str, *, url: str | None = None, countdown: float | None = None) -> str:
    result = sender(url).send_task(TASK_RUN, args=[job_id], queue=QUEUE, countdown=countdown)
    return str(result.id)


def send_fold(job_id: str, fold: int, *, countdown: float | None = None) -> None:
    sender().send_task(TASK_FOLD, args=[job_id, fold], queue=QUEUE, countdown=countdown)


def send_finalize(job_id: str) -> None:
    # As a chord callback, finalize receives the folds' results first; sent alone, none.
    sender().send_task(TASK_FINALIZE, args=[[], job_id], queue=QUEUE)


def send_folds(job_id: str, folds: list[int]) -> int:
    """Send the folds of a parallel job as a Celery group whose chord callback finalizes the job
    (at once if no fold is left to run). Returns how many folds were sent."""
    from celery import chord, signature

    app = sender()
    header = [signature(TASK_FOLD, args=[job_id, k], queue=QUEUE, app=app) for k in folds]
    callback = signature(TASK_FINALIZE, args=[job_id], queue=QUEUE, app=app)
    if header:
        chord(header, app=app)(callback)
    else:
        callback.apply_async(args=[[]])
    return len(header)


def queue_length(url: str | None = None) -> int:
    """Messages waiting in the training queue (kombu's Redis transport keeps them in a list)."""
    import redis

    client = redis.Redis.from_url(broker_url(url), socket_connect_timeout=2, socket_timeout=2)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()
