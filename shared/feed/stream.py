"""Append snapshots to the Redis stream `lob:snapshots`, riding out Redis restarts.

The stream is capped with `XADD ... MAXLEN ~ cap` so a feed left running never fills Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import redis

from shared.events import SNAPSHOT_STREAM
from shared.feed import snapshot

log = logging.getLogger("lob.feed")

DEFAULT_MAXLEN = 50_000  # ~16 MB of entries: minutes of history at 100 snapshots/s
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)  # seconds between reconnect attempts, then 2 s forever

Record = tuple[int, str, np.ndarray]  # (ts ns, symbol, book (40,))


class StreamWriter:
    def __init__(
        self, redis_url: str, *, stream: str = SNAPSHOT_STREAM, maxlen: int = DEFAULT_MAXLEN
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.stream = stream
        self.maxlen = maxlen
        self.sent = 0

    def send(self, records: Sequence[Record]) -> None:
        """XADD the records in one round trip, retrying until Redis answers.

        A batch that reached Redis just before the connection broke is sent again: the feed is
        at-least-once, like the exchange's own stream after a reconnect.
        """
        if not records:
            return
        attempt = 0
        while True:
            try:
                pipe = self.redis.pipeline(transaction=False)
                now = time.time_ns()
                for ts, symbol, book in records:
                    pipe.xadd(
                        self.stream,
                        snapshot.encode(ts, symbol, book, sent_ns=now),  # type: ignore[arg-type]
                        maxlen=self.maxlen,
                        approximate=True,
                    )
                pipe.execute()
                self.sent += len(records)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                if attempt == 0:
                    log.warning("redis unavailable (%s); retrying", exc)
                attempt += 1
                time.sleep(delay)

    def close(self) -> None:
        self.redis.close()
