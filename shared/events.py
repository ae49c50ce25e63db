"""Typed messages on Redis. Producers and consumers both import these; nobody builds dicts by hand.

Channels (docs/ARCHITECTURE.md "Redis keys and channels"): stream lob:snapshots; pub/sub
lob:predictions:<SYMBOL>, lob:jobs:<job_id>, lob:models.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

SNAPSHOT_STREAM = "lob:snapshots"
MODELS_CHANNEL = "lob:models"
ACTIVE_MODEL_KEY = "lob:models:active"


def predictions_channel(symbol: str) -> str:
    return f"lob:predictions:{symbol.upper()}"


def job_channel(job_id: str | int) -> str:
    return f"lob:jobs:{job_id}"


JobEventType = Literal[
    "queued", "started", "progress", "epoch", "fold_done", "succeeded", "failed", "cancelled"
]


class JobEvent(BaseModel):
    type: JobEventType
    job_id: str
    ts: float = Field(default_factory=time.time)
    fold: int | None = None
    folds: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    batches: int | None = None
    metrics: dict[str, Any] | None = None
    message: str | None = None


class ModelPromoted(BaseModel):
    type: Literal["promoted"] = "promoted"
    version_id: int
    job_id: str
    fold: int
    path: str  # run directory holding the fold's checkpoint, scaler and the manifest
    ts: float = Field(default_factory=time.time)


class Probabilities(BaseModel):
    down: float
    neutral: float
    up: float


class Book(BaseModel):
    """Top levels, best first, as [price, size] pairs (the web page's order-book ladder)."""

    asks: list[tuple[float, float]]
    bids: list[tuple[float, float]]


class Prediction(BaseModel):
    type: Literal["prediction"] = "prediction"
    status: Literal["ok", "warming_up"] = "ok"
    ts: int  # snapshot time, ns since epoch
    symbol: str
    best_bid: float
    best_ask: float
    mid: float
    probs: Probabilities | None = None
    signal: Literal["UP", "NEUTRAL", "DOWN"] | None = None
    confidence: float | None = None
    model_version: str | None = None
    latency_ms: float
    seq: int  # per-symbol count of snapshots seen: gaps and duplicates are visible
    warmup_have: int | None = None
    warmup_need: int | None = None
    book: Book | None = None
