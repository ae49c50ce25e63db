"""What a fresh dev stack is given: synthetic datasets, a servable model and the settings that train
well on the planted market, made with the product's own code (the synthetic market, the
checkpoint writer, the model store and registry).

Used by `lob bench` (devstack/bench/) and the tests (tests/support/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.events import ModelPromoted, ModelShadow

T0_NS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC
STEP_NS = 100_000_000  # 10 snapshots per second
SCALER_ROWS = 5_000
SERVED_FOLD = 5
# Training settings for the planted market (shared.data.synth.PLANTED), of `lob bench quality`
# and of lob up's demo job: labels 10 rows ahead (the pressure lasts ~50 rows), level-free inputs,
# the epoch with the best validation macro F1, and what slows DeepLOB's memorising of 30,000 rows:
# small batches (more steps per epoch), dropout and weight decay. BENCHMARKS.md has the trials
# behind them; mirrored books and input noise (shared/ml/augment.py) did not help here.
PLANTED_SETTINGS: dict[str, Any] = {
    "folds": 2,
    "h": 10,
    "span": 50,
    "lr": 1e-3,
    "batch_size": 32,
    "norm": "mid_bps",
    "select": "val_f1",
    "dropout_lstm": 0.3,
    "dropout_head": 0.3,
    "weight_decay": 0.01,
    "patience": 3,
}


def dataset(
    home: Path,
    name: str,
    rows: int,
    *,
    seed: int = 0,
    symbol: str = "SYNTH",
    step_ns: int = STEP_NS,
) -> np.ndarray:
    """The synthetic market (shared.data.synth) as dataset `name`; returns its (rows, 40) books.

    One row every `step_ns` nanoseconds rather than the market's own random gaps: a replay then
    runs at a known pace, and a gap in the timestamps a client sees counts lost snapshots.
    """
    from shared.data.store import write_dataset
    from shared.data.synth import synth_market

    _, features = synth_market(rows, seed=seed)
    ts = T0_NS + np.arange(rows, dtype=np.int64) * step_ns
    write_dataset(name, ts=ts, features=features, symbols=[symbol], home=home)
    return features


def servable_run(home: Path, run_id: str, *, seed: int = 0, model: str = "deeplob") -> Path:
    """A finished run under `home` with a servable fold 5: the zoo's `model` (DeepLOB unless
    told) with random weights (torch seed `seed`), its sidecar, a scaler fitted on the synthetic
    market, and the manifest."""
    import torch

    from shared.data.synth import synth_market
    from shared.ml import zoo
    from shared.ml.checkpoint import save_weights, write_sidecar
    from shared.rundir import RunDir
    from shared.scaler import Scaler
    from shared.train_config import TrainConfig

    run = RunDir(Path(home) / "runs" / run_id)
    fold = run.fold(SERVED_FOLD)
    fold.path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = zoo.model_config(TrainConfig(model=model))  # type: ignore[arg-type]
    save_weights(zoo.build(cfg).eval(), fold.weights)
    write_sidecar(run.path, SERVED_FOLD, cfg)
    _, features = synth_market(SCALER_ROWS, seed=1)
    Scaler.fit(features, 0, len(features)).save(fold.scaler)
    run.write_manifest()
    return run.path


def point_active(
    home: Path, run_dir: Path, version_id: int, *, redis_url: str | None = None
) -> ModelPromoted:
    """What promotion does after its database row: point the model store at the run's fold 5 and
    announce it on lob:models (with a `redis_url`)."""
    from shared.db.registry import publish
    from shared.rundir import ModelStore

    msg = ModelPromoted(
        version_id=version_id, job_id=Path(run_dir).name, fold=SERVED_FOLD, path=str(run_dir)
    )
    ModelStore(home).point(msg)
    publish(redis_url, msg)
    return msg


def point_shadow(
    home: Path,
    run_dir: Path | None,
    version_id: int = 0,
    *,
    redis_url: str | None = None,
) -> ModelShadow:
    """What `lob models shadow` does after its checks: point the shadow at the run's fold 5 (None:
    no challenger, as `--clear`) and announce it on lob:models (with a `redis_url`)."""
    from shared.db.registry import publish
    from shared.events import ModelRef
    from shared.rundir import ModelStore

    ref = (
        ModelRef(
            version_id=version_id, job_id=Path(run_dir).name, fold=SERVED_FOLD, path=str(run_dir)
        )
        if run_dir is not None
        else None
    )
    msg = ModelShadow(model=ref)
    ModelStore(home).point_shadow(msg)
    publish(redis_url, msg)
    return msg
