from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from shared.data.store import validate_name
from shared.errors import DataError
from shared.train_config import TrainConfig

log = logging.getLogger(__name__)

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
    """Where a run is: the one account of it, which the UI shows as it is (services/web).

    While running, fold `fold` of `folds` is in progress, `epoch` of its `epochs` are finished,
    and the epoch under way is at batch `batch` of `batches`. The engine's events name epochs
    1-based (the one running, or the one just finished); services/worker/hooks.py turns them into
    this count once, and nothing downstream converts again.
    """

    fold: int | None = Field(None, description="fold in progress (1-based)")
    folds: int | None = None
    epoch: int | None = Field(None, description="epochs of this fold finished (0 at its start)")
    epochs: int | None = None
    batch: int | None = Field(None, description="batches done in the epoch under way")
    batches: int | None = None
    fraction: float | None = Field(
        None, description="0..1 over the whole run (folds × epochs); 1 once succeeded"
    )
    label: str = Field(
        "", description='where the run is, in words: "Fold 2 of 5 · epoch 3 of 20", "Complete"'
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


# result.json (shared/ml/finalize.py finalize_run, shared/ml/evaluation.py): typed where the UI reads
# it. Every key is optional and unknown keys are kept, so a result an older engine wrote (without
# backtest, gate or calibration; the model's scores under `test`) still reads.
class _ResultPart(BaseModel):
    model_config = ConfigDict(extra="allow")


class Scores(_ResultPart):
    """Classification scores on the test rows (shared/ml/metrics.py)."""

    accuracy: float | None = None
    f1_macro: float | None = None
    f1_weighted: float | None = None
    f1_per_class: list[float] | None = None
    support: list[int] | None = None
    confusion: list[list[int]] | None = None
    samples: int | None = None
    mcc: float | None = None
    loss: float | None = None


class ReliabilityBin(_ResultPart):
    """Predictions whose top-class probability fell in [lo, hi)."""

    lo: float
    hi: float
    count: int
    confidence: float | None = None
    accuracy: float | None = None


class Calibration(_ResultPart):
    log_loss: float | None = None
    brier: float | None = None
    reliability: list[ReliabilityBin] | None = None
    ece: float | None = None


class ModelScores(Scores):
    calibration: Calibration | None = None


class BaselineScores(Scores):
    # majority: the class it always predicts.
    class_: str | None = Field(None, alias="class")
    # The fitted baselines: the class weighting chosen on the validation block.
    class_weight: str | None = None


class ResultTestSet(Scores):
    """The test rows; results from before `model` existed hold the model's scores here too."""

    first_row: int | None = None
    last_row: int | None = None
    label_counts: dict[str, int] | None = None


class TradeFigures(_ResultPart):
    """Backtest figures on the test rows (shared/ml/backtest.py)."""

    trades: int | None = None
    hit_rate: float | None = None
    mean_net_bps: float | None = None
    total_net_bps: float | None = None
    sharpe: float | None = None
    max_drawdown_bps: float | None = None
    turnover: float | None = None
    long: int | None = None
    short: int | None = None


class BacktestTest(TradeFigures):
    gross: TradeFigures | None = Field(None, description="the same trades at zero cost")
    equity: list[float] | None = Field(
        None, description="cumulative net bps after each trade, thinned to at most 200 points"
    )


class BacktestEntry(_ResultPart):
    theta: float | None = Field(
        None, description="threshold chosen on validation; null when none traded there"
    )
    no_trades: bool | None = None
    test: BacktestTest | None = None


class Backtest(_ResultPart):
    fee_bps: float | None = None
    horizon: int | None = None
    entries: dict[str, BacktestEntry | None] | None = None


class GateVerdict(_ResultPart):
    passed: bool | None = Field(None, description="null: there was nothing to compare with")
    reason: str | None = None


class FoldSummary(_ResultPart):
    """A fold's done.json."""

    fold: int
    train: int | None = None
    val: int | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    best_val_loss: float | None = None
    best_val_acc: float | None = None
    best_val_f1: float | None = None
    early_stopped: bool | None = None


class RunResult(_ResultPart):
    """result.json: `model` holds the served fold's test scores, `test` describes the test set."""

    run_id: str | None = None
    dataset: str | None = None
    fold: int | None = Field(None, description="the served fold")
    arch: str | None = Field(
        None,
        description="the network (shared/ml/zoo.py: deeplob, tlob, mlplob, binctabl); "
        "a result without it is DeepLOB's",
    )
    classes: list[str] | None = None
    test: ResultTestSet | None = None
    model: ModelScores | None = None
    baselines: dict[str, BaselineScores | None] | None = None
    backtest: Backtest | None = None
    gate: GateVerdict | None = None
    folds: list[FoldSummary] | None = None
    eval_version: int | None = None
    finished_at: str | None = None


class JobOut(BaseModel):
    id: str
    status: JobStatusT
    dataset: str
    # A row written before a setting existed reads it as its default: what that run did.
    config: TrainConfig
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
    # result.json of a finished run: test metrics, baselines, backtest, gate.
    result: RunResult | None = None

    @field_validator("result", mode="wrap")
    @classmethod
    def _readable_result(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A result.json that is not a result (hand-edited, another tool's) must not fail the job's
        # page: it is left out, and said so in the log.
        try:
            return handler(value)
        except ValidationError as exc:
            log.warning("a job's result does not read as result.json, left out: %s", exc)
            return None


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    page: int
    size: int
