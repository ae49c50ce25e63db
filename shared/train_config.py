"""Training settings. They travel with the job (API body, CLI flags) and are saved with the run.

Torch-free: the gateway validates job bodies with this model.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

QUICK_ROWS = 5_000

# The networks a job can train (shared/ml/zoo.py builds them; docs/ARCHITECTURE.md, "Models").
ModelName = Literal["deeplob", "tlob", "mlplob", "binctabl"]
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The network (shared/ml/zoo.py); a run started before this setting trained DeepLOB.
    model: ModelName = Field(
        "deeplob",
        description="the network: deeplob (Zhang et al. 2019), tlob or mlplob (Berti & Kasneci "
        "2025), binctabl (Tran et al. 2021)",
    )

    # Labels (docs/ARCHITECTURE.md "Labels: exact definitions").
    labels: Literal["triple_barrier", "smoothed"] = "triple_barrier"
    span: int = Field(100, ge=2, le=100_000, description="triple barrier: EWMA volatility span")
    k: float = Field(1.0, gt=0, le=100, description="triple barrier: barrier width in sigmas")
    h: int = Field(100, ge=1, le=10_000, description="triple barrier: horizon in rows")
    min_return: float = Field(0.0, ge=0, le=1, description="triple barrier: minimum barrier")
    smooth_k: int = Field(10, ge=1, le=10_000, description="smoothed: rows averaged ahead")
    alpha: float = Field(2e-5, ge=0, le=1, description="smoothed: threshold on the smoothed return")

    # Evaluation (shared/ml/evaluation.py): the backtest's fee per side, on top of the spread.
    fee_bps: float = Field(1.0, ge=0, le=1_000, description="backtest fee in bps per side")

    # Cross-validation.
    folds: int = Field(5, ge=1, le=20)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)

    # Inputs (shared/scaler.py): the paper's z-score of raw features, or the price-level-free
    # mid_bps (prices as bps from the row's mid, sizes log1p, then z-scored).
    norm: Literal["zscore", "mid_bps"] = "mid_bps"

    # Optimisation.
    epochs: int = Field(20, ge=1, le=1_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    # How a training batch is built: independent windows, or segments of windows whose conv work
    # is shared (shared/ml/segments.py: ~2.5x the samples/s on a CPU, but on some runs a clearly
    # worse model, so not the default; BENCHMARKS.md, "Segment batching").
    batching: Literal["windows", "segments"] = Field(
        "windows",
        description="training batches: independent windows or shared-conv segments (deeplob only)",
    )
    lr: float = Field(1e-4, gt=0, le=1)
    patience: int = Field(5, ge=1, le=1_000)
    select: Literal["val_loss", "val_f1"] = Field(
        "val_f1", description="early stopping and best-checkpoint criterion"
    )
    # Regularisation (all off: the paper's DeepLOB). Dropout per model: shared/ml/zoo.py.
    dropout_lstm: float = Field(
        0.0, ge=0, lt=1, description="dropout on the LSTM's inputs (deeplob only)"
    )
    dropout_head: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="dropout before the output layer (deeplob, tlob, mlplob; binctabl keeps "
        "its paper's 0.1 after each bilinear layer)",
    )
    weight_decay: float = Field(0.0, ge=0, le=1, description="decoupled weight decay (AdamW)")
    # Augmentation (shared/ml/augment.py): the mirrored book (mid_bps only) and input noise.
    mirror: bool = Field(False, description="train on mirrored books too (UP and DOWN swap)")
    noise: float = Field(0.0, ge=0, le=10, description="std of Gaussian noise on scaled inputs")
    gamma: float = Field(2.0, ge=0, le=10, description="focal loss focusing parameter")
    class_weights: list[float] | None = Field(
        None,
        min_length=3,
        max_length=3,
        description="focal alpha per class (down, neutral, up); default inverse frequency",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)

    # Runtime.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool | None = Field(
        None, description="bf16 autocast on CUDA; None = chosen by measurement"
    )
    compile: bool | None = Field(None, description="torch.compile; None = chosen by measurement")
    max_rows: int | None = Field(None, ge=1_000, description="use only the first N rows")
    quick: bool = Field(False, description="5,000 rows and 1 epoch: a smoke run")
    parallel_folds: bool = False
    promote: Literal["if_better", "always", "never"] = Field(
        "if_better", description="serve the model: if it beats every baseline, always, or never"
    )
    progress_every: int = Field(20, ge=1, description="batches between progress events")

    @field_validator("batching")
    @classmethod
    def _segments_need_deeplob(cls, batching: str, info: ValidationInfo) -> str:
        # model is declared above batching, so it is validated first (absent only if it failed).
        model = info.data.get("model", "deeplob")
        if batching == "segments" and model != "deeplob":
            raise ValueError(
                f"batching 'segments' needs model 'deeplob' (it shares DeepLOB's conv work "
                f"across windows); model {model!r} trains with batching 'windows'"
            )
        return batching

    @field_validator("mirror")
    @classmethod
    def _mirror_needs_mid_bps(cls, mirror: bool, info: ValidationInfo) -> bool:
        # norm is declared above mirror, so it is validated first (absent only if it failed).
        if mirror and info.data.get("norm", "mid_bps") != "mid_bps":
            raise ValueError("mirror needs norm 'mid_bps' (a z-scored raw price has no mirror)")
        return mirror

    @model_validator(mode="after")
    def _apply_quick(self) -> TrainConfig:
        if self.quick:
            self.epochs = 1
            self.max_rows = min(self.max_rows or QUICK_ROWS, QUICK_ROWS)
        return self

    @property
    def horizon(self) -> int:
        """Rows ahead that a label looks at: the purge distance of the walk-forward split."""
        return self.h if self.labels == "triple_barrier" else self.smooth_k
