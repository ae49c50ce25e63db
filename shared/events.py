"""Typed messages on Redis. Producers and consumers both import these; nobody builds dicts by hand.

Channels (docs/ARCHITECTURE.md "Redis keys and channels"): streams lob:snapshots and
lob:predictions:stream:<SYMBOL>; pub/sub lob:predictions:<SYMBOL>, lob:jobs:<job_id>, lob:models.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import models_json_schema

SNAPSHOT_STREAM = "lob:snapshots"
MODELS_CHANNEL = "lob:models"
ACTIVE_MODEL_KEY = "lob:models:active"
# LiveScoresReport JSON, rewritten by inference; lob:predictions:<SYMBOL> also carries LiveScores
# and lob:models ModelDegraded.
LIVE_SCORES_KEY = "lob:inference:scores"


def predictions_channel(symbol: str) -> str:
    return f"lob:predictions:{symbol.upper()}"


# Inference also appends every prediction to its symbol's stream, in the MULTI that publishes it,
# so a gateway relay that lost its subscription reads back what it missed. 1,000 entries: 100 s
# at 10 predictions/s, ~1 MB per symbol (~1 KB of JSON each); a relay's reconnect takes seconds.
PREDICTIONS_STREAM_MAXLEN = 1_000  # XADD ... MAXLEN ~: Redis keeps at least this many
PREDICTIONS_STREAM_FIELD = "prediction"  # an entry's one field: the Prediction JSON, as published


def predictions_stream(symbol: str) -> str:
    """The capped stream holding what predictions_channel(symbol) carried, in publish order."""
    return f"lob:predictions:stream:{symbol.upper()}"


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


class ModelRef(BaseModel):
    """A registered model version's fold, where inference finds it."""

    version_id: int
    job_id: str
    fold: int
    path: str  # run directory holding the fold's checkpoint, scaler and the manifest


class ModelPromoted(ModelRef):
    type: Literal["promoted"] = "promoted"
    ts: float = Field(default_factory=time.time)


class ModelShadow(BaseModel):
    """lob:models and models/shadow.json: the challenger inference scores beside the champion
    (never published to clients), or none (`model` null: the shadow is removed)."""

    type: Literal["shadow"] = "shadow"
    model: ModelRef | None = None
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


ClassName = Literal["DOWN", "NEUTRAL", "UP"]  # shared.labels.CLASS_NAMES


class ScoreFigures(BaseModel):
    """Predictions scored against their realised labels."""

    samples: int
    accuracy: float | None = Field(None, description="None until a prediction is scored")
    f1_macro: float | None = None
    confusion: list[list[int]] = Field(
        description="3×3 counts: row = realised class, column = predicted (DOWN, NEUTRAL, UP)"
    )


class LiveBacktest(BaseModel):
    """The model's backtest rule (shared/ml/backtest.py) run on the live predictions."""

    theta: float | None = Field(description="chosen on validation; None: no trades, no backtest")
    fee_bps: float
    horizon: int
    trades: int = Field(description="closed trades")
    net_bps: float = Field(description="total net bps of the closed trades")
    hit_rate: float | None = None
    position: Literal[-1, 0, 1] = Field(0, description="open now: +1 long, −1 short, 0 flat")


class Outcome(BaseModel):
    seq: int  # the prediction's seq
    predicted: ClassName
    realised: ClassName


class LiveScores(BaseModel):
    """How a model version is doing on a symbol, live: its predictions resolved into the labels
    it was trained on (once `horizon` more snapshots arrived), scored and backtested."""

    type: Literal["scores"] = "scores"
    model_version: str
    symbol: str
    role: Literal["champion", "challenger", "retired"] = Field(
        "champion",
        description="champion: served to clients; challenger: the shadow, scored only; "
        "retired: served earlier, figures kept",
    )
    labels: Literal["triple_barrier", "smoothed"]
    horizon: int
    loaded_at: float = Field(description="when this model was loaded: since_load starts there")
    resolved: int = Field(description="predictions resolved since load (IGNORE rows included)")
    last: ScoreFigures = Field(description="the last 1,000 scored predictions")
    since_load: ScoreFigures
    backtest: LiveBacktest
    test_accuracy: float | None = Field(None, description="the same model on its test set")
    test_f1_macro: float | None = None
    degraded: bool = Field(False, description="drift: see ModelDegraded")
    recent: list[Outcome] = Field(description="the last 50 scored predictions, oldest first")
    ts: float = Field(default_factory=time.time)


class ModelDegraded(BaseModel):
    """Drift, on lob:models: live macro F1 over the last `window` scored predictions of a symbol
    fell below the model's test macro F1 by more than `margin` (degraded true), or is back within
    it (degraded false: the flag clears). Sent when the state changes, never repeated."""

    type: Literal["model_degraded"] = "model_degraded"
    model_version: str
    symbol: str
    degraded: bool
    live_f1_macro: float
    test_f1_macro: float
    margin: float
    window: int
    resolved: int = Field(description="predictions resolved since load when the state changed")
    ts: float = Field(default_factory=time.time)


class LiveScoresReport(BaseModel):
    """The key lob:inference:scores: every model version (the last few) and symbol scored since
    inference started, rewritten about once a second."""

    scores: list[LiveScores]
    drift_window: int
    drift_margin: float
    updated_at: float = Field(default_factory=time.time)


ModelsMessage = Annotated[ModelPromoted | ModelShadow | ModelDegraded, Field(discriminator="type")]
_MODELS_MESSAGE: TypeAdapter[ModelPromoted | ModelShadow | ModelDegraded] = TypeAdapter(
    ModelsMessage
)


def parse_models_message(data: str | bytes) -> ModelPromoted | ModelShadow | ModelDegraded:
    """A message of lob:models; raises pydantic's ValidationError when it is neither kind."""
    return _MODELS_MESSAGE.validate_json(data)


# What the gateway's WebSocket relays to browsers, as it is published here.
WIRE_MESSAGES: tuple[type[BaseModel], ...] = (
    JobEvent,
    ModelPromoted,
    ModelShadow,
    Prediction,
    LiveScores,
    ModelDegraded,
)


def json_schemas(
    models: tuple[type[BaseModel], ...] = WIRE_MESSAGES,
    ref_template: str = "#/components/schemas/{model}",
) -> dict[str, Any]:
    """JSON schemas of `models` and the models they hold, by name, as sent (serialization mode).

    The gateway adds them to its OpenAPI components, from which the web UI's types are generated.
    """
    _, top = models_json_schema([(m, "serialization") for m in models], ref_template=ref_template)
    return dict(top.get("$defs", {}))
