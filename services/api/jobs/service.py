"""Jobs: submit, list, read, cancel. Keyword-only functions over an AsyncSession."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.concurrency import run_in_threadpool

from services.api.errors import FieldError
from services.api.jobs.schemas import JobDetail, JobOut, MetricRow, Progress
from services.api.system.metrics import JOBS_SUBMITTED
from services.worker import client
from shared.config import StorageSettings
from shared.data.store import dataset_dir, list_datasets
from shared.db import jobstate
from shared.db.models import (
    TERMINAL_STATUSES,
    Dataset,
    EpochMetric,
    Job,
    ModelVersion,
    new_job_id,
    utcnow,
)
from shared.errors import Conflict
from shared.events import job_channel
from shared.rundir import RunDir
from shared.train_config import TrainConfig

log = logging.getLogger(__name__)


# name -> (meta.json mtime_ns, dataset row id): a submit reads one stat() for a known dataset.
_DATASET_IDS: dict[str, tuple[int, int]] = {}


def read_dataset_meta(name: str, home: Path) -> tuple[int, dict[str, Any] | None]:
    """(mtime_ns, meta) of meta.json; meta is None when the cached registration is current."""
    meta_path = dataset_dir(name, home) / "meta.json"
    try:
        mtime = meta_path.stat().st_mtime_ns
        cached = _DATASET_IDS.get(name)
        if cached is not None and cached[0] == mtime:
            return mtime, None
        return mtime, json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise FieldError(
            ("dataset",), f"unknown dataset {name!r} (see GET /api/datasets)"
        ) from None


async def _dataset_id(conn: AsyncConnection, name: str, home: Path) -> int:
    mtime, meta = read_dataset_meta(name, home)
    if meta is None:
        return _DATASET_IDS[name][1]
    rows, sha = int(meta.get("rows", 0)), str(meta.get("sha256", ""))
    dataset_id = await conn.scalar(
        insert(Dataset)
        .values(
            name=name,
            rows=rows,
            sha256=sha,
            meta={k: meta[k] for k in ("symbols", "ts_start", "ts_end", "levels") if k in meta},
            registered_at=utcnow(),
        )
        .on_conflict_do_update(index_elements=["name"], set_={"rows": rows, "sha256": sha})
        .returning(Dataset.id)
    )
    assert dataset_id is not None
    _DATASET_IDS[name] = (mtime, int(dataset_id))
    return int(dataset_id)


def newest_dataset(home: Path) -> str:
    datasets = list_datasets(home)
    if not datasets:
        raise FieldError(("dataset",), "no dataset yet: import one with `lob data import`")
    return str(max(datasets, key=lambda d: str(d.get("created_at", "")))["name"])


def progress_of(job: Any) -> Progress:
    """The run's position as the jobs row holds it (services/worker/hooks.py writes it), with
    the share done and the line the UI shows: the UI derives nothing from these numbers."""
    p = Progress(
        fold=job.fold,
        folds=job.folds,
        epoch=job.epoch,
        epochs=job.epochs,
        batch=job.batch,
        batches=job.batches,
    )
    if job.status == "succeeded":
        p.fraction = 1.0
    elif job.folds and job.epochs and job.fold:
        # Walk-forward folds run in order, so every fold before `fold` is whole (one that stopped
        # early too); this one has `epoch` epochs finished and `batch` batches of the next.
        within = min(1.0, job.batch / job.batches) if job.batch and job.batches else 0.0
        this_fold = min(1.0, ((job.epoch or 0) + within) / job.epochs)
        p.fraction = max(0.0, min(1.0, (job.fold - 1 + this_fold) / job.folds))
    p.label = _progress_label(job.status, p)
    return p


def _progress_label(status: str, p: Progress) -> str:
    """Where the run is, in words: "Fold 2 of 5 · epoch 3 of 20" (the epoch under way)."""
    if status == "queued":
        return "Queued: waiting for a worker"
    if status == "succeeded":
        return "Complete"
    where = None
    if p.fold is not None:
        where = f"fold {p.fold} of {p.folds or '?'}"
        if p.epochs:
            # The epoch under way, 1-based; the last one once the fold has finished them all.
            where += f" · epoch {min((p.epoch or 0) + 1, p.epochs)} of {p.epochs}"
    if status in ("failed", "cancelled"):
        verb = status.capitalize()
        return f"{verb} at {where}" if where else f"{verb} before training started"
    return where[0].upper() + where[1:] if where else "Waiting for the worker"


def job_out(job: Any, model_version_id: int | None = None) -> JobOut:
    """From an ORM Job, a result row or a namespace with the jobs columns."""
    return JobOut(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        dataset=job.dataset,
        config=TrainConfig.model_validate(job.config),
        progress=progress_of(job),
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        worker=job.worker,
        cancel_requested=job.cancel_requested,
        model_version_id=model_version_id,
    )


async def _version_ids(session: AsyncSession, job_ids: list[str]) -> dict[str, int]:
    if not job_ids:
        return {}
    rows = await session.execute(
        select(ModelVersion.job_id, func.max(ModelVersion.id))
        .where(ModelVersion.job_id.in_(job_ids))
        .group_by(ModelVersion.job_id)
    )
    return {job_id: vid for job_id, vid in rows.all()}


async def submit(
    *, conn: AsyncConnection, dataset: str, config: TrainConfig, home: Path, broker: str
) -> JobOut:
    """Record the job (queued), then send `training.run` by name.

    `conn` is in autocommit: the INSERT is durable when it returns, so a worker always finds the
    row. If the broker is down the job stays queued and a worker's reaper sends it once Redis is
    back.
    """
    dataset_id = await _dataset_id(conn, dataset, home)
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_job_id(),
        "status": jobstate.SUBMITTED.target,
        "dataset": dataset,
        "dataset_id": dataset_id,
        "config": config.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
        "folds": config.folds,
        "epochs": config.epochs,
        "attempts": 0,
        "cancel_requested": False,
        "dispatched_at": now,
    }
    await conn.execute(insert(Job).values(**values))
    JOBS_SUBMITTED.inc()
    job = SimpleNamespace(
        **values,
        **dict.fromkeys(("fold", "epoch", "batch", "batches", "error", "worker"), None),
        started_at=None,
        finished_at=None,
    )
    try:
        await run_in_threadpool(client.send_run, job.id, url=broker)
    except Exception as exc:  # broker down: the reaper re-sends once it is back
        log.warning("job %s: queued, but the broker refused the message: %s", job.id, exc)
        await conn.execute(update(Job).where(Job.id == job.id).values(dispatched_at=None))
    return job_out(job)


_MODEL_VERSION = (
    select(func.max(ModelVersion.id))
    .where(ModelVersion.job_id == Job.id)
    .correlate(Job)
    .scalar_subquery()
    .label("model_version_id")
)


async def page(*, conn: AsyncConnection, page: int, size: int) -> tuple[list[JobOut], int]:
    """One round trip: the page, its model versions and the total (a window count)."""
    rows = (
        await conn.execute(
            select(*Job.__table__.columns, _MODEL_VERSION, func.count().over().label("total"))
            .order_by(Job.created_at.desc(), Job.id.desc())
            .offset((page - 1) * size)
            .limit(size)
        )
    ).all()
    if rows:
        total = int(rows[0].total)
    else:  # past the last page: the window count has no row to ride on
        total = int(await conn.scalar(select(func.count()).select_from(Job)) or 0)
    return [job_out(r, r.model_version_id) for r in rows], total


async def detail(*, session: AsyncSession, job: Job, home: Path) -> JobDetail:
    rows = (
        await session.scalars(
            select(EpochMetric)
            .where(EpochMetric.job_id == job.id)
            .order_by(EpochMetric.fold, EpochMetric.epoch)
        )
    ).all()
    result = job.result
    if result is None and job.status in TERMINAL_STATUSES:
        result = RunDir(StorageSettings(home=home).runs / job.id).read_result()
    versions = await _version_ids(session, [job.id])
    return JobDetail(
        **job_out(job, versions.get(job.id)).model_dump(),
        metrics=[
            MetricRow(
                fold=m.fold,
                epoch=m.epoch,
                train_loss=m.train_loss,
                train_acc=m.train_acc,
                val_loss=m.val_loss,
                val_acc=m.val_acc,
                val_f1=m.val_f1,
                extra=m.extra or {},
            )
            for m in rows
        ],
        result=result,
    )


async def cancel(*, session: AsyncSession, job: Job, redis: aioredis.Redis) -> tuple[JobOut, bool]:
    """Queued: cancelled now, it never starts. Running: flagged; its worker stops at the next batch.

    Returns the job and whether it is already cancelled (False: the worker will stop it).
    """
    if job.status in TERMINAL_STATUSES:
        raise Conflict(f"job {job.id} is already {job.status}")
    cancelled = await session.scalar(jobstate.cancel_now(job.id).returning(Job.id))
    if cancelled is None:
        await session.execute(jobstate.request_cancel(job.id))
    await session.commit()
    if cancelled is not None:
        ev = jobstate.event(jobstate.CANCELLED, job.id, message="cancelled before it started")
        try:  # best effort, as every job event: the row is the record
            await redis.publish(job_channel(job.id), ev.model_dump_json())
        except RedisError as exc:
            log.warning("job %s: cancelled, but its event was not published: %s", job.id, exc)
    await session.refresh(job)
    return job_out(job), job.status == "cancelled"
