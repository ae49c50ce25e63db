"""Training jobs: submit, list, read, cancel; and the seed's POST /model/train."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from services.api.deps import AuthDep, ConnDep, JobDep, RedisDep, SessionDep, SettingsDep
from services.api.errors import documented
from services.api.jobs import service
from services.api.jobs.schemas import JobCreate, JobDetail, JobOut, JobPage, SeedTrainIn
from shared.train_config import TrainConfig

router = APIRouter(tags=["jobs"], responses=documented(401, 404, 409, 503))


@router.post("/api/jobs", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
async def create_job(
    _auth: AuthDep, body: JobCreate, conn: ConnDep, settings: SettingsDep
) -> JobOut:
    """Queue a training job. 202: it runs when a worker is free; watch GET /api/jobs/{id}."""
    return await service.submit(
        conn=conn,
        dataset=body.dataset,
        config=body.config,
        home=settings.lob_home,
        broker=str(settings.redis_url),
    )


@router.post("/model/train", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
async def seed_train(
    _auth: AuthDep, conn: ConnDep, settings: SettingsDep, body: SeedTrainIn | None = None
) -> JobOut:
    """The seed's endpoint: POST /api/jobs with default settings (newest dataset unless named)."""
    dataset = (body.dataset if body else None) or service.newest_dataset(settings.lob_home)
    return await service.submit(
        conn=conn,
        dataset=dataset,
        config=TrainConfig(),
        home=settings.lob_home,
        broker=str(settings.redis_url),
    )


@router.get("/api/jobs", response_model=JobPage)
async def list_jobs(
    conn: ConnDep,
    page: int = Query(1, ge=1, le=100_000),
    size: int = Query(20, ge=1, le=200),
) -> JobPage:
    """Jobs, newest first."""
    items, total = await service.page(conn=conn, page=page, size=size)
    return JobPage(items=items, total=total, page=page, size=size)


@router.get("/api/jobs/{job_id}", response_model=JobDetail)
async def get_job(job: JobDep, session: SessionDep, settings: SettingsDep) -> JobDetail:
    """A job with its progress, per-epoch metrics and, once finished, result.json."""
    return await service.detail(session=session, job=job, home=settings.lob_home)


@router.post(
    "/api/jobs/{job_id}/cancel", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED
)
async def cancel_job(_auth: AuthDep, job: JobDep, session: SessionDep, redis: RedisDep) -> JobOut:
    """Cancel: a queued job never starts; a running one stops at its next batch boundary."""
    out, _ = await service.cancel(session=session, job=job, redis=redis)
    return out
