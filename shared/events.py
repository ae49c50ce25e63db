"""Typed messages on Redis. Producers and consumers both import these; nobody builds dicts by hand.

Channels (docs/ARCHITECTURE.md "Redis keys and channels"): stream lob:snapshots; pub/sub
lob:predictions:<SYMBOL>, lob:jobs:<job_id>, lob:models.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

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
    """The engine's own account, as it happens. Where a run stands, in one convention, is the
    gateway's Progress (GET /api/jobs/{id}); services/worker/hooks.py turns events into it."""

    type: JobEventType
    job_id: str
    ts: float = Field(default_factory=time.time)
    fold: int | None = Field(None, description="1-based")
    folds: int | None = None
    epoch: int | None = Field(
        None,
        description="1-based: the epoch under way (progress), the one just finished (epoch), "
        "the epochs the fold ran (fold_done)",
    )
    epochs: int | None = None
    batch: int | None = Field(None, description="progress: batches done in the epoch under way")
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


# What the gateway's WebSocket relays to browsers, as it is published here.
WIRE_MESSAGES: tuple[type[BaseModel], ...] = (JobEvent, ModelPromoted, Prediction)


def json_schemas(
    models: tuple[type[BaseModel], ...] = WIRE_MESSAGES,
    ref_template: str = "#/components/schemas/{model}",
) -> dict[str, Any]:
    """JSON schemas of `models` and the models they hold, by name, as sent (serialization mode).

    The gateway adds them to its OpenAPI components, from which the web UI's types are generated.
    """
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=ref_template)
    return dict(top.get("$defs", {}))
