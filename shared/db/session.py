"""Engines and sessions from get_settings().database_url: sync for the worker and CLI, async for the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import get_settings
from shared.errors import BadConfig

# Fail fast when PostgreSQL is down, so callers can answer 503 instead of hanging.
CONNECT_TIMEOUT_S = 3


def database_url(url: str | None = None) -> str:
    url = url or get_settings().database_url
    if not url:
        raise BadConfig("DATABASE_URL is not set (lob up starts an embedded PostgreSQL for you)")
    # One driver for both engines: psycopg 3 does sync and async.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return create_engine(
        database_url(url),
        pool_pre_ping=True,  # a PostgreSQL restart leaves dead pooled connections behind
        pool_size=5,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


@lru_cache(maxsize=8)
def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def make_async_engine(url: str | None = None, *, pool_size: int = 20) -> AsyncEngine:
    """The gateway's engine; made in its lifespan, never at import time."""
    return create_async_engine(
        database_url(url),
        pool_pre_ping=True,
        # Enough kept-open connections for a burst of concurrent requests: an overflow
        # connection is opened and closed per request (a PostgreSQL backend fork each time).
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
