"""Replay recorded snapshots into `lob:snapshots`, keeping their recorded spacing.

lob feed replay SRC... [--speed X] [--loop] [--symbol S] [--limit N]

--speed 1 replays in real time, 10 ten times faster, 0 as fast as Redis takes it (batched).
--loop starts over at the end; timestamps keep increasing across passes, so consumers see one
continuous market.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shared.feed.stream import Record, StreamWriter

log = logging.getLogger("lob.feed")

BATCH = 512  # entries per pipeline round trip when running behind or at --speed 0
MAX_SLEEP_S = 0.5  # wake at least this often so a stop request is seen


@dataclass
class ReplayStats:
    sent: int = 0
    passes: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


def replay(
    open_records: Callable[[], Iterator[Record]],
    writer: StreamWriter,
    *,
    speed: float = 1.0,
    loop: bool = False,
    limit: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ReplayStats:
    """Send every record of `open_records()` (called again per pass with --loop)."""
    stats = ReplayStats()
    offset = 0  # added to recorded ts on later passes
    clock0: float | None = None  # monotonic time of the first record
    ts0 = 0
    pending: list[Record] = []
    while True:
        first = last = None
        count = 0
        for ts, symbol, book in open_records():
            if first is None:
                first = ts
            last = ts
            count += 1
            out_ts = ts + offset
            if clock0 is None:
                clock0, ts0 = time.monotonic(), out_ts
            if speed > 0:
                due = clock0 + (out_ts - ts0) / 1e9 / speed
                while (wait := due - time.monotonic()) > 0:
                    if pending:
                        writer.send(pending)
                        pending = []
                    if should_stop():
                        return _done(stats)
                    time.sleep(min(wait, MAX_SLEEP_S))
            pending.append((out_ts, symbol, book))
            stats.sent += 1
            stats.first_ts = out_ts if stats.first_ts is None else stats.first_ts
            stats.last_ts = out_ts
            if len(pending) >= BATCH:
                writer.send(pending)
                pending = []
                if should_stop():
                    return _done(stats)
            if limit is not None and stats.sent >= limit:
                writer.send(pending)
                return _done(stats)
        writer.send(pending)
        pending = []
        stats.passes += 1
        if not loop or first is None or last is None or should_stop():
            return _done(stats)
        # The next pass continues one average step after this one ended.
        step = (last - first) // max(1, count - 1) or 1_000_000
        offset += last - first + step


def _done(stats: ReplayStats) -> ReplayStats:
    log.info("replayed %d snapshots in %d pass(es)", stats.sent, stats.passes)
    return stats
