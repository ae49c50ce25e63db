"""The live_scores table's one writer (inference) and its reader (the gateway's history route).

A minute row is added to, never replaced: inference flushes a minute in parts (when the stream
goes quiet, every few seconds under load, when it stops), and a restarted inference adds to the
minute its predecessor began.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shared.db.models import LiveScore


@dataclass(frozen=True)
class MinutePart:
    """Counts to add to one minute's row (the columns of LiveScore)."""

    model_version: str
    symbol: str
    minute: datetime
    resolved: int
    correct: int
    confusion: list[list[int]]
    window_accuracy: float | None
    window_f1_macro: float | None
    trades: int
    net_bps: float


def add_minutes(session: Session, parts: Iterable[MinutePart]) -> None:
    """Add each part to its minute's row, creating the row if need be."""
    for part in parts:
        row = session.scalar(
            select(LiveScore)
            .where(
                LiveScore.model_version == part.model_version,
                LiveScore.symbol == part.symbol,
                LiveScore.minute == part.minute,
            )
            .with_for_update()
        )
        if row is None:
            session.add(LiveScore(**asdict(part)))
            session.flush()  # the next part may be the same minute's
            continue
        row.resolved += part.resolved
        row.correct += part.correct
        row.confusion = [
            [a + b for a, b in zip(mine, theirs, strict=True)]
            for mine, theirs in zip(row.confusion, part.confusion, strict=True)
        ]
        row.trades += part.trades
        row.net_bps += part.net_bps
        row.window_accuracy = part.window_accuracy
        row.window_f1_macro = part.window_f1_macro


def history_query(*, model_version: str, symbol: str, limit: int) -> Select[tuple[LiveScore]]:
    """The newest `limit` minutes of a model version on a symbol, oldest first once reversed."""
    return (
        select(LiveScore)
        .where(LiveScore.model_version == model_version, LiveScore.symbol == symbol)
        .order_by(LiveScore.minute.desc())
        .limit(limit)
    )
