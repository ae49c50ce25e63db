"""Health, readiness, Prometheus metrics and the UI's deployment config."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from services.api.deps import StateDep
from services.api.system.metrics import REGISTRY
from services.api.system.schemas import ConfigOut, ReadyOut
from shared.data.store import list_datasets

router = APIRouter(tags=["system"])

CHECK_TIMEOUT_S = 2.0


def _version() -> str:
    try:
        return version("deeplob-hub")
    except PackageNotFoundError:
        return "dev"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to serve: PostgreSQL and Redis answer (503 with the failing ones otherwise)."""

    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis() -> None:
        await state.redis.ping()

    checks: dict[str, str] = {}
    for name, check in (("database", database), ("redis", redis)):
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            checks[name] = f"unavailable: {type(exc).__name__}: {exc}"[:300]
    ok = all(v == "ok" for v in checks.values())
    body = ReadyOut(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/config", response_model=ConfigOut)
async def config(state: StateDep) -> ConfigOut:
    """Deployment facts for the UI: the Flower link, symbols of the imported datasets."""
    datasets = await run_in_threadpool(list_datasets, state.settings.lob_home)
    symbols = sorted({str(s) for d in datasets for s in d.get("symbols", [])})
    return ConfigOut(
        flower_url=state.settings.flower_url,
        version=_version(),
        symbols=symbols,
        token_configured=bool(state.settings.api_token.get_secret_value()),
    )
