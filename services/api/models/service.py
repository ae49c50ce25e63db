"""Model versions: list, the active one, promote (roll back / pin)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.models.schemas import ActiveModelOut, InferenceStatus, ModelOut
from shared.db import registry
from shared.db.models import Job, ModelVersion
from shared.errors import NotFound
from shared.events import MODELS_CHANNEL
from shared.rundir import ModelStore

INFERENCE_STATUS_KEY = "lob:inference:status"


def model_out(v: ModelVersion, dataset: str | None, active_id: int | None) -> ModelOut:
    return ModelOut(
        id=v.id,
        job_id=v.job_id,
        fold=v.fold,
        version=v.version,
        dataset=dataset,
        created_at=v.created_at,
        promoted_at=v.promoted_at,
        active=v.id == active_id,
        weights_sha256=v.weights_sha256,
        metrics=v.test_metrics,
        gate_passed=v.gate_passed,
        gate_reason=v.gate_reason,
    )


def _active_id(home: Path) -> int | None:
    msg = ModelStore(home).active()
    return msg.version_id if msg else None


async def all_models(*, session: AsyncSession, home: Path) -> list[ModelOut]:
    rows = await session.execute(
        select(ModelVersion, Job.dataset)
        .join(Job, Job.id == ModelVersion.job_id)
        .order_by(ModelVersion.id.desc())
    )
    active_id = _active_id(home)
    return [model_out(v, dataset, active_id) for v, dataset in rows.all()]


async def get_model(*, session: AsyncSession, version_id: int, home: Path) -> ModelOut:
    row = (
        await session.execute(
            select(ModelVersion, Job.dataset)
            .join(Job, Job.id == ModelVersion.job_id)
            .where(ModelVersion.id == version_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"unknown model version {version_id}")
    return model_out(row[0], row[1], _active_id(home))


async def active(*, session: AsyncSession, redis: aioredis.Redis, home: Path) -> ActiveModelOut:
    out = ActiveModelOut()
    active_id = _active_id(home)
    if active_id is not None:
        try:
            out.model = await get_model(session=session, version_id=active_id, home=home)
        except NotFound:
            out.model = None  # active.json from another database: nothing to show
    try:
        raw = await redis.get(INFERENCE_STATUS_KEY)
    except RedisError as exc:
        out.inference_error = f"Redis unavailable: {exc}"
        return out
    if raw is None:
        out.inference_error = "the inference service has not reported (is it running?)"
    else:
        try:
            out.inference = InferenceStatus.model_validate(json.loads(raw))
        except ValueError as exc:
            out.inference_error = f"unreadable inference status: {exc}"
    return out


async def promote(
    *, session: AsyncSession, redis: aioredis.Redis, version_id: int, home: Path
) -> ModelOut:
    """registry.promote (verify, mark promoted, point active.json), then announce."""
    store = ModelStore(home)
    # The registry's one promotion, on this request's session; its file work (hashing the fold's
    # files, writing the pointer) is a few small files, so it runs on the event loop.
    msg = await session.run_sync(registry.promote, version_id, store=store)
    # Best effort: inference also polls active.json, so it picks the promotion up anyway.
    with contextlib.suppress(RedisError):
        await redis.publish(MODELS_CHANNEL, msg.model_dump_json())
    return await get_model(session=session, version_id=version_id, home=home)
