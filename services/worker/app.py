"""The Celery app for training jobs.

celery -A services.worker.app worker -Q training --concurrency 1 --loglevel INFO

Every setting below that departs from Celery's default says why. The tasks themselves are in
services/worker/tasks.py; they call plain functions in services/worker/runner.py.
"""

from __future__ import annotations

import logging
import warnings

from celery import Celery, signals
from celery.exceptions import SecurityWarning

from services.worker.client import QUEUE, base_config, broker_url

log = logging.getLogger(__name__)

# Celery warns whenever a worker runs as root. Here that is on purpose (a container, or this
# single-user machine), and what the warning guards against, executing pickled messages, cannot
# happen: the worker accepts JSON only (client.base_config).
warnings.filterwarnings("ignore", category=SecurityWarning, message=".*superuser privileges")

app = Celery("lob-worker", include=["services.worker.tasks"])
app.conf.update(base_config(broker_url()))
app.conf.update(
    # One message at a time: a training job runs for minutes to hours, and a prefetched message
    # would wait behind it on this worker while another worker sits idle.
    worker_prefetch_multiplier=1,
    # Ack only when the task has returned: a worker killed mid-job leaves its message unacked, so
    # the job is not lost (the lease reaper re-sends it long before the broker would).
    task_acks_late=True,
    # With acks_late, a task whose pool process dies is re-queued rather than acked as failed.
    task_reject_on_worker_lost=True,
    # A job owns the whole machine (GPU, cores): one at a time per worker process.
    worker_concurrency=1,
    # The threads pool: the task runs in a thread of the worker process itself. Not prefork,
    # because prefork children are daemonic and PyTorch DataLoader workers cannot be started from a
    # daemonic process, and because forking after CUDA is initialised breaks CUDA. Not solo,
    # because solo blocks the worker's own loop for the whole job, so it stops answering
    # `celery inspect ping` (the container health check) and Flower's heartbeats.
    worker_pool="threads",
    # Keep running a job when the broker connection drops (Redis restart): the lease, not the
    # broker, decides who runs a job, and the job's progress lives in PostgreSQL.
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # Flower shows task state from events; send them without waiting for `celery control`.
    worker_send_task_events=True,
    # Reported as STARTED (not just PENDING) as soon as a worker picks the task up.
    task_track_started=True,
    # Results are small status dicts; the record of a job is its PostgreSQL row.
    result_expires=7 * 24 * 3600,
    # Keep reconnecting to a broker that went away, however long it takes.
    broker_connection_max_retries=None,
    task_default_queue=QUEUE,
)


@signals.worker_ready.connect
def _start_reaper(sender: object = None, **_: object) -> None:
    """Requeue jobs whose worker died, now and every reaper_interval_s, from every worker."""
    from services.worker import reaper

    reaper.start_background()


@signals.worker_shutting_down.connect
def _hand_off_running_jobs(sig: object = None, how: object = None, **_: object) -> None:
    """On a warm shutdown, stop the running job at its next batch boundary and requeue it at once."""
    from services.worker import runner

    runner.request_handoff()
