"""Model versions: list, active (with what inference serves), promote / roll back, shadow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.api.deps import AuthDep, RedisDep, SessionDep, SettingsDep
from services.api.errors import documented
from services.api.models import service
from services.api.models.schemas import ActiveModelOut, ModelOut
from shared.errors import NotFound
from shared.events import ModelShadow
from shared.rundir import ModelStore

router = APIRouter(tags=["models"], responses=documented(401, 404, 409, 503))
ModelId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a model version id")]


@router.get("/api/models", response_model=list[ModelOut])
async def list_models(session: SessionDep, settings: SettingsDep) -> list[ModelOut]:
    """Every model version, newest first; `active` marks the promoted one."""
    return await service.all_models(session=session, home=settings.lob_home)


@router.get("/api/models/active", response_model=ActiveModelOut)
async def active_model(
    session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> ActiveModelOut:
    """The promoted version, and what inference reports: the version it serves, refusals."""
    return await service.active(session=session, redis=redis, home=settings.lob_home)


@router.post("/api/models/{model_id}/promote", response_model=ModelOut)
async def promote_model(
    _auth: AuthDep,
    model_id: ModelId,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> ModelOut:
    """Serve this version (roll back or pin): verified against its manifest, and loaded as its
    model.json says, first. Promoting the shadow swaps it with the champion."""
    return await service.promote(
        session=session, redis=redis, version_id=model_id, home=settings.lob_home
    )


@router.post("/api/models/{model_id}/shadow", response_model=ModelShadow)
async def shadow_model(
    _auth: AuthDep,
    model_id: ModelId,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> ModelShadow:
    """Score this version live beside the champion, as the challenger (at most one: it replaces
    any other). Its predictions are never sent to clients. It passes the checks of any hot
    reload; promoting it swaps it with the champion."""
    return await service.set_shadow(
        session=session, redis=redis, version_id=model_id, home=settings.lob_home
    )


@router.delete("/api/models/{model_id}/shadow", response_model=ModelShadow)
async def unshadow_model(
    _auth: AuthDep,
    model_id: ModelId,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> ModelShadow:
    """Stop scoring this version as the challenger (404 when it is not the shadow)."""
    current = ModelStore(settings.lob_home).shadow()
    if current is None or current.model is None or current.model.version_id != model_id:
        raise NotFound(f"model version {model_id} is not the shadow")
    return await service.set_shadow(
        session=session, redis=redis, version_id=None, home=settings.lob_home
    )
