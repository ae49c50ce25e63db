"""A job's data, ready to train on: the dataset opened, labelled and split walk-forward, and its
window (or segment) batches placed on the runtime's device. Every failure here (unknown dataset,
too few rows, a label setting that gives one class) is raised before any training starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.data.schema import WINDOW
from shared.data.store import Dataset, open_dataset
from shared.errors import BadConfig
from shared.labels import CLASS_NAMES, make_labels
from shared.ml.runtime import Runtime, resolve_runtime
from shared.ml.segments import SEGMENT_STRIDE, SegmentBatches
from shared.ml.windows import WindowBatches
from shared.scaler import Scaler
from shared.splits import WalkForward, usable_samples, walk_forward
from shared.train_config import TrainConfig

EVAL_BATCH = 256  # inference needs no gradients: bigger batches, same memory as training's


@dataclass
class Prepared:
    cfg: TrainConfig
    dataset: Dataset
    features: np.ndarray  # (rows, 40) float32 memory map (first cfg.max_rows rows)
    labels: np.ndarray  # (rows,) int8
    split: WalkForward
    runtime: Runtime

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])

    def batches(self, scaler: Scaler, batch_size: int) -> WindowBatches:
        """Batches of this data's windows on the runtime's device, in its memory layout."""
        return WindowBatches(self.features, self.labels, scaler, **self._placed(batch_size))

    def train_batches(self, scaler: Scaler) -> WindowBatches | SegmentBatches:
        """Training batches as the job's `batching` setting builds them."""
        if self.cfg.batching == "windows":
            return self.batches(scaler, self.cfg.batch_size)
        return self._segments(scaler, self.cfg.batch_size, SEGMENT_STRIDE)

    def val_batches(self, scaler: Scaler) -> WindowBatches | SegmentBatches:
        """Validation batches; segments (exact in eval mode) at stride 1 keep the rows' order."""
        size = max(self.cfg.batch_size, EVAL_BATCH)
        if self.cfg.batching == "windows":
            return self.batches(scaler, size)
        return self._segments(scaler, size, 1)

    def _segments(self, scaler: Scaler, batch_size: int, stride: int) -> SegmentBatches:
        where = self._placed(batch_size)
        return SegmentBatches(self.features, self.labels, scaler, stride=stride, **where)

    def _placed(self, batch_size: int) -> dict[str, Any]:
        rt = self.runtime
        return {"batch_size": batch_size, "device": rt.device, "channels_last": rt.channels_last}


def prepare(cfg: TrainConfig, dataset: str) -> Prepared:
    """Open the dataset, label it and split it; raise NotFound / BadConfig before any training."""
    runtime = resolve_runtime(cfg)
    ds = open_dataset(dataset)
    rows = ds.rows if cfg.max_rows is None else min(ds.rows, cfg.max_rows)
    features = ds.features[:rows]
    if rows < WINDOW:
        raise BadConfig(f"dataset {dataset!r} has {rows} rows; one {WINDOW}-row window needs more")
    labels = make_labels(features, cfg)
    usable = labels[usable_samples(labels, WINDOW)]
    present = np.unique(usable)
    if present.size < 2:
        what = CLASS_NAMES[int(present[0])] if present.size else "none"
        raise BadConfig(
            f"label setting {label_desc(cfg)} gives a single class ({what}) on all "
            f"{usable.size} usable rows of {dataset!r}: widen or narrow the barrier "
            "(k, min_return / alpha) so that at least two classes occur"
        )
    split = walk_forward(
        labels,
        horizon=cfg.horizon,
        folds=cfg.folds,
        test_fraction=cfg.test_fraction,
        window=WINDOW,
    )
    return Prepared(cfg, ds, features, labels, split, runtime)


def label_desc(cfg: TrainConfig) -> str:
    if cfg.labels == "triple_barrier":
        return f"triple_barrier(span={cfg.span}, k={cfg.k}, h={cfg.h}, min_return={cfg.min_return})"
    return f"smoothed(k={cfg.smooth_k}, alpha={cfg.alpha})"
