"""Live scores: what inference reports in Redis now, and the minute history in PostgreSQL."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.live.schemas import LiveHistoryOut, LiveMinuteOut, LiveScoresOut
from shared.db.live_scores import history_query
from shared.db.models import LiveScore
from shared.events import LIVE_SCORES_KEY


async def scores(*, redis: aioredis.Redis) -> LiveScoresOut:
    """The report inference rewrites about once a second; empty, with the reason, without one."""
    empty = {"scores": [], "drift_window": 0, "drift_margin": 0.0, "updated_at": 0.0}
    try:
        raw = await redis.get(LIVE_SCORES_KEY)
    except RedisError as exc:
        return LiveScoresOut(**empty, inference_error=f"Redis unavailable: {exc}")
    if raw is None:
        reason = "the inference service has not reported live scores (is a scored model serving?)"
        return LiveScoresOut(**empty, inference_error=reason)
    try:
        return LiveScoresOut.model_validate_json(raw)
    except ValidationError as exc:
        return LiveScoresOut(**empty, inference_error=f"unreadable live scores: {exc}")


def minute_out(row: LiveScore) -> LiveMinuteOut:
    return LiveMinuteOut(
        minute=row.minute,
        resolved=row.resolved,
        correct=row.correct,
        accuracy=row.correct / row.resolved if row.resolved else None,
        confusion=row.confusion,
        window_accuracy=row.window_accuracy,
        window_f1_macro=row.window_f1_macro,
        trades=row.trades,
        net_bps=row.net_bps,
    )


async def history(
    *, session: AsyncSession, model_version: str, symbol: str, limit: int
) -> LiveHistoryOut:
    rows = (
        await session.scalars(
            history_query(model_version=model_version, symbol=symbol.upper(), limit=limit)
        )
    ).all()
    return LiveHistoryOut(
        model_version=model_version,
        symbol=symbol.upper(),
        minutes=[minute_out(r) for r in reversed(rows)],
    )
