"""HTTP errors in one place: every error body is JSON `{"detail": ..., "code": ...}`.

Domain exceptions (shared.errors) map to status codes here; PostgreSQL or Redis being unreachable
maps to 503, so the UI can say what is down instead of showing a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError as SQLDataError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import BadConfig, Conflict, DataError, LobError, NotFound

log = logging.getLogger(__name__)


class Unauthorized(LobError):
    pass


class TooManyRequests(LobError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FieldError(LobError):
    """A request field that is well-formed but refers to nothing usable (422, like validation)."""

    def __init__(self, field: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


class ErrorOut(BaseModel):
    """Every error body. `detail` is a message, or for 422 a list of {loc, msg, type}."""

    detail: str | list[dict[str, Any]]
    code: str


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these error statuses (they all share ErrorOut)."""
    what = {
        401: "missing or wrong token / session",
        404: "no such job or model version",
        409: "conflict: the job is finished, or the files do not match the manifest",
        429: "too many sign-in attempts (see Retry-After)",
        503: "PostgreSQL or Redis unavailable (see Retry-After)",
    }
    return {s: {"model": ErrorOut, "description": what[s]} for s in statuses}


STATUS: dict[type[LobError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    BadConfig: (422, "bad_config"),
    DataError: (422, "bad_data"),
    Unauthorized: (401, "unauthorized"),
    TooManyRequests: (429, "rate_limited"),
}


def error_body(detail: object, code: str) -> dict[str, object]:
    return {"detail": detail, "code": code}


def _lob_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LobError)
    if isinstance(exc, FieldError):
        detail = [{"loc": ["body", *exc.field], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(error_body(detail, "invalid"), status_code=422)
    status, code = next(
        (v for cls, v in STATUS.items() if isinstance(exc, cls)), (400, "bad_request")
    )
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_body(str(exc), code), status_code=status, headers=headers)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    down = isinstance(exc, OperationalError | InterfaceError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if isinstance(exc, SQLDataError):
        # PostgreSQL refused a value the validation let through (a NUL byte, an overflow).
        return JSONResponse(error_body(f"invalid value: {exc.orig}", "invalid"), status_code=422)
    if not down:
        return _unexpected(request, exc)
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        error_body("the database (PostgreSQL) is unavailable; try again shortly", "db_unavailable"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("redis unavailable: %s", exc)
    return JSONResponse(
        error_body("Redis is unavailable; try again shortly", "redis_unavailable"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    return JSONResponse(error_body(errors, "invalid"), status_code=422)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    return JSONResponse(
        error_body(exc.detail, codes.get(exc.status_code, "http_error")),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Process boundary: log with the traceback, answer JSON without internals.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal server error", "internal"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LobError, _lob_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    for exc in (DBAPIError, PoolTimeout):
        app.add_exception_handler(exc, _database_error)
    app.add_exception_handler(redis.RedisError, _redis_down)
    app.add_exception_handler(Exception, _unexpected)
