from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.data.store import validate_name
from shared.errors import DataError
from shared.train_config import TrainConfig

JobStatusT = Literal["queued", "running", "succeeded", "failed", "cancelled"]


def _dataset_name(value: str) -> str:
    try:
        return validate_name(value)
    except DataError as exc:  # a path, "..", a slash: refused as a validation error (422)
        raise ValueError(str(exc)) from exc


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="dataset name (see GET /api/datasets); never a path")
    config: TrainConfig = Field(default_factory=TrainConfig)

    _check_dataset = field_validator("dataset")(_dataset_name)


class SeedTrainIn(BaseModel):
    """The seed's POST /model/train body: default settings; the newest dataset if none is named."""

    dataset: str | None = None

    @field_validator("dataset")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _dataset_name(value)


class Progress(BaseModel):
    """Where a run is. While running: fold `fold` of `folds` is in progress, `epoch` of its
    `epochs` are finished, and the epoch under way is at batch `batch` of `batches`."""

    fold: int | None = Field(None, description="fold in progress (1-based)")
    folds: int | None = None
    epoch: int | None = Field(None, description="epochs of this fold finished (0 at its start)")
    epochs: int | None = None
    batch: int | None = Field(None, description="batches done in the epoch under way")
    batches: int | None = None
    fraction: float | None = Field(
        None, description="0..1 over the whole run (folds × epochs); 1 once succeeded"
    )


class MetricRow(BaseModel):
    fold: int
    epoch: int
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    val_f1: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class JobOut(BaseModel):
    id: str
    status: JobStatusT
    dataset: str
    config: dict[str, Any]
    progress: Progress
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    worker: str | None = None
    cancel_requested: bool = False
    model_version_id: int | None = None


class JobDetail(JobOut):
    metrics: list[MetricRow] = Field(default_factory=list)
    # result.json of a finished run: test metrics, baselines, confusion matrix.
    result: dict[str, Any] | None = None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    page: int
    size: int
