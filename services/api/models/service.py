"""Model versions: list, the active one, promote (roll back / pin), the shadow (challenger)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.models.schemas import ActiveModelOut, InferenceStatus, ModelOut
from shared.db import registry
from shared.db.models import Job, ModelVersion
from shared.errors import Conflict, NotFound
from shared.events import MODELS_CHANNEL, ModelPromoted, ModelShadow
from shared.rundir import ModelStore

INFERENCE_STATUS_KEY = "lob:inference:status"


CHECK_TIMEOUT_S = 120.0


def model_out(
    v: ModelVersion, dataset: str | None, active_id: int | None, shadow_id: int | None = None
) -> ModelOut:
    return ModelOut(
        id=v.id,
        job_id=v.job_id,
        fold=v.fold,
        version=v.version,
        dataset=dataset,
        created_at=v.created_at,
        promoted_at=v.promoted_at,
        active=v.id == active_id,
        shadow=v.id == shadow_id,
        weights_sha256=v.weights_sha256,
        metrics=v.test_metrics,
        gate_passed=v.gate_passed,
        gate_reason=v.gate_reason,
    )


def _active_id(home: Path) -> int | None:
    msg = ModelStore(home).active()
    return msg.version_id if msg else None


def _shadow_id(home: Path) -> int | None:
    msg = ModelStore(home).shadow()
    return msg.model.version_id if msg and msg.model else None


async def all_models(*, session: AsyncSession, home: Path) -> list[ModelOut]:
    rows = await session.execute(
        select(ModelVersion, Job.dataset)
        .join(Job, Job.id == ModelVersion.job_id)
        .order_by(ModelVersion.id.desc())
    )
    active_id, shadow_id = _active_id(home), _shadow_id(home)
    return [model_out(v, dataset, active_id, shadow_id) for v, dataset in rows.all()]


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
    return model_out(row[0], row[1], _active_id(home), _shadow_id(home))


async def active(*, session: AsyncSession, redis: aioredis.Redis, home: Path) -> ActiveModelOut:
    out = ActiveModelOut()
    active_id = _active_id(home)
    if active_id is not None:
        try:
            out.model = await get_model(session=session, version_id=active_id, home=home)
        except NotFound:
            out.model = None  # active.json from another database: nothing to show
    shadow_id = _shadow_id(home)
    if shadow_id is not None:
        with contextlib.suppress(NotFound):
            out.shadow = await get_model(session=session, version_id=shadow_id, home=home)
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


async def _check_loads(session: AsyncSession, version_id: int) -> None:
    """The fold's model must load as its model.json says (architecture, strict weights, finite
    forward). That needs torch, which the gateway never imports: a short child process checks."""
    version = await session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound(f"unknown model version {version_id}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.ml.check_fold",
        version.run_dir,
        str(version.fold),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), CHECK_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        raise Conflict(
            f"checking model version {version_id} took over {CHECK_TIMEOUT_S:.0f} s"
        ) from None
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise Conflict(lines[-1] if lines else f"model version {version_id} does not load")


async def _announce(redis: aioredis.Redis, *messages: ModelPromoted | ModelShadow) -> None:
    # Best effort: inference also polls the model store's pointers, so it picks them up anyway.
    with contextlib.suppress(RedisError):
        for msg in messages:
            await redis.publish(MODELS_CHANNEL, msg.model_dump_json())


async def promote(
    *, session: AsyncSession, redis: aioredis.Redis, version_id: int, home: Path
) -> ModelOut:
    """registry.promote (verify, mark promoted, point active.json; a challenger swaps places with
    the champion), then announce."""
    await _check_loads(session, version_id)
    # The registry's one promotion, on this request's session; its file work (hashing the fold's
    # files, writing the pointers) is a few small files, so it runs on the event loop.
    done = await session.run_sync(registry.promote, version_id, store=ModelStore(home))
    await _announce(redis, *done.messages)
    return await get_model(session=session, version_id=version_id, home=home)


async def set_shadow(
    *, session: AsyncSession, redis: aioredis.Redis, version_id: int | None, home: Path
) -> ModelShadow:
    """registry.set_shadow (verify, point shadow.json; None removes it), then announce."""
    if version_id is not None:
        await _check_loads(session, version_id)
    msg = await session.run_sync(registry.set_shadow, version_id, store=ModelStore(home))
    await _announce(redis, msg)
    return msg
