"""The live score history: minute rows into PostgreSQL (table live_scores), off the serving loop.

Optional: without DATABASE_URL inference says so once and keeps no history. Writes happen on a
thread of their own, so a slow or absent PostgreSQL never delays a prediction; while it is away
the parts wait (the newest MAX_WAITING) and are written once it answers again.
"""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy.exc import SQLAlchemyError

from shared.db.live_scores import MinutePart, add_minutes
from shared.db.session import session_scope

log = logging.getLogger("lob.inference")

MAX_WAITING = 10_000  # minute parts held while PostgreSQL is away: ~17 h of 10 symbols
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
CLOSE_TIMEOUT_S = 5.0


class ScoreHistory:
    def __init__(self, database_url: str | None) -> None:
        self.url = database_url
        self._queue: queue.Queue[list[MinutePart] | None] | None = None
        self._thread: threading.Thread | None = None
        if not database_url:
            log.info("DATABASE_URL is not set: the live score history is not kept")
            return
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="score-history", daemon=True)
        self._thread.start()

    def submit(self, parts: list[MinutePart]) -> None:
        if self._queue is not None and parts:
            self._queue.put(parts)

    def close(self, parts: list[MinutePart]) -> None:
        """Write the last parts and stop (waits up to CLOSE_TIMEOUT_S)."""
        if self._queue is None or self._thread is None:
            return
        self.submit(parts)
        self._queue.put(None)
        self._thread.join(CLOSE_TIMEOUT_S)

    def _run(self) -> None:
        assert self._queue is not None
        waiting: list[MinutePart] = []
        failures = 0
        stopping = False
        while not stopping:
            try:
                retry = RETRY_S[min(failures, len(RETRY_S)) - 1] if failures else None
                item = self._queue.get(timeout=retry if waiting else None)
                while True:  # everything queued goes in one transaction
                    if item is None:
                        stopping = True
                    else:
                        waiting += item
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            if not waiting:
                continue
            try:
                with session_scope(self.url) as session:
                    add_minutes(session, waiting)
            except SQLAlchemyError as exc:
                if failures == 0:
                    log.warning("cannot write live scores to PostgreSQL (%s); retrying", exc)
                failures += 1
                waiting = waiting[-MAX_WAITING:]
                continue
            except Exception:  # the thread's boundary: log and keep the history thread alive
                log.exception("unexpected error writing live scores; %d parts lost", len(waiting))
                waiting = []
                continue
            if failures:
                log.info("live scores written to PostgreSQL again")
            failures = 0
            waiting = []
        if waiting:
            log.warning("stopping with %d live score parts unwritten", len(waiting))
