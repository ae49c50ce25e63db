from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.api.datasets import service
from services.api.datasets.schemas import DatasetOut
from services.api.deps import SettingsDep
from services.api.errors import documented

router = APIRouter(tags=["datasets"], responses=documented(503))


@router.get("/api/datasets", response_model=list[DatasetOut])
async def list_datasets(settings: SettingsDep) -> list[DatasetOut]:
    """Datasets available for training (imported with `lob data import`)."""
    return await run_in_threadpool(service.all_datasets, home=settings.lob_home)
