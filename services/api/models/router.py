"""Model versions: list, active (with what inference serves), promote / roll back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.api.deps import AuthDep, RedisDep, SessionDep, SettingsDep
from services.api.errors import documented
from services.api.models import service
from services.api.models.schemas import ActiveModelOut, ModelOut

router = APIRouter(tags=["models"], responses=documented(401, 404, 409, 503))


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
    model_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
) -> ModelOut:
    """Serve this version (roll back or pin): verified against its manifest first."""
    return await service.promote(
        session=session, redis=redis, version_id=model_id, home=settings.lob_home
    )
