"""Typed SQLAlchemy 2 models: datasets, jobs (with their lease), per-epoch metrics, model versions,
live scores.

The schema itself is created by the Alembic history in shared/db/migrations, never by create_all.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them (Alembic's recommended convention).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES: tuple[str, ...] = ("succeeded", "failed", "cancelled")

# JSONB on PostgreSQL (indexable, compact); plain JSON elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    """Short, URL- and path-safe: it is also the run directory name under $LOB_HOME/runs/."""
    return uuid.uuid4().hex[:12]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: Json,
    }


class Dataset(Base):
    """A dataset directory under $LOB_HOME/datasets/, registered when a job first uses it."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    registered_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    jobs: Mapped[list[Job]] = relationship(back_populates="dataset_row")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(80), primary_key=True, default=new_job_id)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    dataset: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), onupdate=utcnow
    )
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]

    # Progress: where the run is now (the metrics table keeps the history).
    fold: Mapped[int | None]
    folds: Mapped[int | None]
    epoch: Mapped[int | None]
    epochs: Mapped[int | None]
    batch: Mapped[int | None]
    batches: Mapped[int | None]

    # The lease: the worker that runs the job renews it; another worker may take the job only once
    # it has expired, so a job never runs twice at once.
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # When the last Celery message for this job was sent; the reaper re-sends lost ones.
    dispatched_at: Mapped[datetime | None]

    dataset_row: Mapped[Dataset | None] = relationship(back_populates="jobs")
    metrics: Mapped[list[EpochMetric]] = relationship(
        back_populates="job", order_by="(EpochMetric.fold, EpochMetric.epoch)"
    )
    fold_runs: Mapped[list[FoldRun]] = relationship(back_populates="job", order_by="FoldRun.fold")
    model_versions: Mapped[list[ModelVersion]] = relationship(back_populates="job")


class FoldRun(Base):
    """One fold of a job whose folds run in parallel (config.parallel_folds); leased like a job."""

    __tablename__ = "fold_runs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    fold: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="fold_runs")


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    # A resumed run may redo an epoch: the row is replaced, never duplicated.
    __table_args__ = (UniqueConstraint("job_id", "fold", "epoch"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    fold: Mapped[int]
    epoch: Mapped[int]
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_acc: Mapped[float | None] = mapped_column(Float)
    val_f1: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    job: Mapped[Job] = relationship(back_populates="metrics")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("job_id", "fold"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    fold: Mapped[int]
    version: Mapped[str] = mapped_column(String(128))
    run_dir: Mapped[str] = mapped_column(Text)
    weights_path: Mapped[str] = mapped_column(Text)
    scaler_path: Mapped[str] = mapped_column(Text)
    weights_sha256: Mapped[str] = mapped_column(String(64))
    scaler_sha256: Mapped[str] = mapped_column(String(64))
    test_metrics: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    promoted_at: Mapped[datetime | None] = mapped_column(index=True)
    # The promotion gate (shared/gate.py): did it beat every baseline, and what was decided.
    gate_passed: Mapped[bool | None] = mapped_column(Boolean)
    gate_reason: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="model_versions")


class LiveScore(Base):
    """One minute of live scoring of a model version on a symbol, written by inference
    (services/inference/history.py): the predictions whose snapshot fell in that minute and that
    resolved into a scored label. Rows are added to, never rewritten, so a restarted inference
    continues the history."""

    __tablename__ = "live_scores"
    __table_args__ = (UniqueConstraint("model_version", "symbol", "minute"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_version: Mapped[str] = mapped_column(String(128))
    symbol: Mapped[str] = mapped_column(String(32))
    minute: Mapped[datetime]  # UTC start of the minute of the snapshots (their ts)
    resolved: Mapped[int] = mapped_column(Integer)  # scored predictions in the minute
    correct: Mapped[int] = mapped_column(Integer)
    # 3×3 counts of the minute: row = realised class, column = predicted (DOWN, NEUTRAL, UP).
    confusion: Mapped[list[list[int]]] = mapped_column(Json)
    # Over the last 1,000 scored predictions, as of the minute's last one.
    window_accuracy: Mapped[float | None] = mapped_column(Float)
    window_f1_macro: Mapped[float | None] = mapped_column(Float)
    trades: Mapped[int] = mapped_column(Integer)  # backtest trades closed in the minute
    net_bps: Mapped[float] = mapped_column(Float)  # and their total net bps
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), onupdate=utcnow
    )
