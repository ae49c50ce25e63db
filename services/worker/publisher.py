"""Job events on Redis pub/sub `lob:jobs:<id>`. Best effort: PostgreSQL is the record of a job.

While Redis is away publishes are dropped (and logged once); the client reconnects by itself on
the next publish, so events resume as soon as Redis is back.
"""

from __future__ import annotations

import logging

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared.events import JobEvent, job_channel

log = logging.getLogger(__name__)


class EventPublisher:
    def __init__(self, url: str | None) -> None:
        self._client = (
            redis.Redis.from_url(
                url,
                socket_connect_timeout=1,
                socket_timeout=2,
                # After a Redis restart the pooled connection is dead: retry on a fresh one.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
            if url
            else None
        )
        self._down = False

    def publish(self, event: JobEvent) -> bool:
        if self._client is None:
            return False
        try:
            self._client.publish(job_channel(event.job_id), event.model_dump_json())
        except redis.RedisError as exc:
            if not self._down:
                log.warning("job %s: cannot publish events (%s); will retry", event.job_id, exc)
            self._down = True
            return False
        if self._down:
            log.info("job %s: publishing events again", event.job_id)
            self._down = False
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
