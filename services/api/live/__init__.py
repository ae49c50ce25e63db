"""The live relay of the gateway: Redis pub/sub fanned out to WebSocket clients.

Exports `router` (the /ws/{session_id} endpoint) and `relay_lifespan(app)`, the async context
manager the gateway's lifespan enters: it starts the one Redis subscription of this process and
keeps it on `app.state.relay`. Torch-free, like all of services/api.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.live.relay import Relay
from services.api.live.router import router
from shared.config import Settings, get_settings
from shared.errors import BadConfig

__all__ = ["Relay", "relay_lifespan", "router"]


@asynccontextmanager
async def relay_lifespan(app: FastAPI) -> AsyncIterator[Relay]:
    settings: Settings = getattr(app.state, "settings", None) or get_settings()
    if not settings.redis_url:
        raise BadConfig("REDIS_URL is not set: the live relay needs Redis")
    relay = Relay(settings.redis_url, queue_size=settings.ws_queue)
    app.state.relay = relay
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()
