"""The gateway app: `create_app()`; run it with `python -m services.api` (see __main__.py).

Torch-free by rule: nothing imported here (directly or not) may import torch; a test checks it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.models import OpenAPI
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.api import errors, web
from services.api.datasets.router import router as datasets_router
from services.api.jobs.router import router as jobs_router
from services.api.live import relay_lifespan
from services.api.live import router as live_router
from services.api.live.schemas import ErrorMessage, Pong, Subscribed
from services.api.models.router import router as models_router
from services.api.session.router import router as session_router
from services.api.session.service import SignInLimiter
from services.api.state import GatewayState
from services.api.system.metrics import MetricsMiddleware
from services.api.system.router import router as system_router
from shared.config import Settings, get_settings
from shared.db.session import make_async_engine, make_async_sessionmaker
from shared.errors import BadConfig
from shared.events import WIRE_MESSAGES, json_schemas

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.redis_url:
        raise BadConfig("REDIS_URL is not set (lob up starts an embedded Redis for you)")
    engine = make_async_engine(settings.database_url)
    redis = aioredis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        # After a Redis restart the pooled connections are dead: retry on a fresh one.
        retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    app.state.gateway = GatewayState(
        settings=settings,
        engine=engine,
        autocommit=engine.execution_options(isolation_level="AUTOCOMMIT"),
        sessions=make_async_sessionmaker(engine),
        redis=redis,
        signin_limiter=SignInLimiter(settings.signin_per_minute),
    )
    try:
        async with relay_lifespan(app):
            yield
    finally:
        await redis.aclose()
        await engine.dispose()


def _document_messages(app: FastAPI) -> None:
    """Add the WebSocket's messages to the OpenAPI components. No route returns them, but the web
    UI's types are generated from this document (services/web/scripts/gen-api.mjs)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            messages = json_schemas((*WIRE_MESSAGES, Subscribed, Pong, ErrorMessage))
            for name, schema in messages.items():
                # A message a route also returns (LiveScores) is there already, as FastAPI wrote
                # it: without `"default": null`, which the encoding below drops anyway.
                known = schemas.setdefault(name, schema)
                if jsonable_encoder(known, exclude_none=True) != jsonable_encoder(
                    schema, exclude_none=True
                ):
                    raise RuntimeError(f"two different OpenAPI schemas are named {name!r}")
            # Encoded as FastAPI encodes its own part (no "default": null), so a message's
            # optional fields read like a response's in the generated types.
            app.openapi_schema = jsonable_encoder(
                OpenAPI(**document), by_alias=True, exclude_none=True
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="DeepLOB Hub",
        version="0.1.0",
        description="Train DeepLOB as jobs; serve live order-book predictions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        # Closed unless LOB_CORS_ORIGINS names origins: the UI is served from this same origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware)
    for router in (
        system_router,
        session_router,
        jobs_router,
        datasets_router,
        models_router,
        live_router,
    ):
        app.include_router(router)
    web.install(app)  # last: its catch-all must not shadow the API
    _document_messages(app)
    return app
