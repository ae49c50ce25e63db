"""Typed dependencies: SessionDep, SettingsDep, RedisDep, the auth guard and loaders like JobDep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.api.session import service as auth
from services.api.state import GatewayState
from shared.config import Settings
from shared.db.models import Job
from shared.errors import NotFound


def get_state(request: Request) -> GatewayState:
    return request.app.state.gateway


StateDep = Annotated[GatewayState, Depends(get_state)]


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_connection(state: StateDep) -> AsyncIterator[AsyncConnection]:
    async with state.autocommit.connect() as conn:
        yield conn


# An autocommit connection: each statement is its own transaction.
ConnDep = Annotated[AsyncConnection, Depends(get_connection)]


def get_redis(state: StateDep) -> aioredis.Redis:
    return state.redis


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]


async def require_auth(request: Request, state: StateDep) -> str:
    """Every state-changing route: a bearer token or a valid session cookie, else 401."""
    return await auth.authenticate(request, state.settings, state.redis)


AuthDep = Annotated[str, Depends(require_auth)]


async def get_job(session: SessionDep, job_id: Annotated[str, Path(max_length=80)]) -> Job:
    job = await session.get(Job, job_id)
    if job is None:
        raise NotFound(f"unknown job {job_id!r}")
    return job


JobDep = Annotated[Job, Depends(get_job)]
