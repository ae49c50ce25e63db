from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ModelOut(BaseModel):
    id: int
    job_id: str
    fold: int
    version: str
    dataset: str | None = None
    created_at: datetime
    promoted_at: datetime | None = None
    active: bool
    # The challenger: inference scores it live beside the champion, never serving it to clients.
    shadow: bool = False
    weights_sha256: str
    # Test-set metrics of this fold (from the run's result.json).
    metrics: dict[str, Any] | None = None
    # The promotion gate (shared/gate.py): whether it beat every baseline on the same test rows,
    # and what was decided; a version never promoted is a candidate.
    gate_passed: bool | None = None
    gate_reason: str | None = None


class RefusedCheckpoint(BaseModel):
    path: str | None = None
    reason: str | None = None
    ts: float | str | None = None


class InferenceStatus(BaseModel):
    """What the inference service reports in Redis (lob:inference:status)."""

    model_version: str | None = None
    run_dir: str | None = None
    loaded_at: float | str | None = None
    shadow_version: str | None = None  # the challenger it scores, once verified and loaded
    refused_total: int = 0
    refused: list[RefusedCheckpoint] = Field(default_factory=list)


class ActiveModelOut(BaseModel):
    # The promoted version ($LOB_HOME/models/active.json), null before any promotion.
    model: ModelOut | None = None
    # The challenger ($LOB_HOME/models/shadow.json), null when there is none.
    shadow: ModelOut | None = None
    # What inference is actually serving; null if it has not reported (not running, Redis down).
    inference: InferenceStatus | None = None
    inference_error: str | None = None
