"""Long-lived clients of one gateway process, made in the lifespan and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.session.service import SignInLimiter
from shared.config import Settings


@dataclass
class GatewayState:
    settings: Settings
    engine: AsyncEngine
    # The same pool in autocommit: one round trip per read or single-statement write, no
    # BEGIN / ROLLBACK around it (the hot paths: listing and submitting jobs).
    autocommit: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    signin_limiter: SignInLimiter
