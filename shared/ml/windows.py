"""Model inputs sliced on demand from the memory-mapped (N, 40) feature array.

No window is ever built up front: the only memory beyond the raw array is one batch buffer.
`WindowBatches` gathers a whole batch with one fancy-index over a strided (N−99, 100, 40) view
(128 contiguous 16 kB copies), scales it in place and hands it to torch without another copy;
on CUDA the buffers are pinned and copied asynchronously. `WindowDataset` is the same slicing
behind the torch `Dataset` interface for code that wants a DataLoader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from shared.data.schema import N_FEATURES, WINDOW
from shared.scaler import Scaler


def window_view(features: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """A zero-copy (N − window + 1, window, 40) view: view[i] = features[i : i + window]."""
    n, f = features.shape
    if n < window:
        raise ValueError(f"need at least {window} rows, got {n}")
    s0, s1 = features.strides
    return np.lib.stride_tricks.as_strided(
        features, shape=(n - window + 1, window, f), strides=(s0, s0, s1), writeable=False
    )


def gather(
    view: np.ndarray, ends: np.ndarray, scaler: Scaler | None, out: np.ndarray | None = None
) -> np.ndarray:
    """Scaled float32 windows ending at rows `ends` → (B, window, 40)."""
    window = view.shape[1]
    # Fancy indexing copies just the B windows (each a contiguous 16 kB block). np.take would
    # first copy the whole strided view into a contiguous array: every window, ~100× the data.
    picked = view[np.asarray(ends, dtype=np.intp) - (window - 1)]
    if out is None:
        out = picked
    else:
        np.copyto(out, picked)
    if scaler is not None:
        scaler.transform(out, out=out)
    return out


@dataclass
class Batch:
    x: torch.Tensor  # (B, 1, window, 40) float32 on the target device
    y: torch.Tensor  # (B,) int64 on the target device
    size: int


class Batcher:
    """What every batcher of the engine takes: the rows and their labels, the input transform,
    the batch size and where (device, memory layout) the batches go. Subclasses (WindowBatches,
    shared.ml.segments.SegmentBatches) add `epoch_batches(ends, rng)`."""

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        scaler: Scaler | None,
        *,
        batch_size: int,
        device: torch.device | str = "cpu",
        window: int = WINDOW,
        channels_last: bool = False,
    ) -> None:
        self.features = features
        self.labels = labels
        self.scaler = scaler
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.window = window
        self.channels_last = channels_last


class WindowBatches(Batcher):
    """Iterate batches of (window, label) for sample end rows `ends`, in the given order.

    One instance per split and device; reuse it across epochs with a new order each time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.view = window_view(self.features, self.window)
        batch_size, window = self.batch_size, self.window
        cuda = self.device.type == "cuda"
        # Two buffers so the next batch can be gathered while the last one is still being
        # copied to the GPU; on CPU the model reads the buffer directly, so one is enough
        # as long as the caller finishes each batch before asking for the next.
        self._buffers = [
            torch.empty((batch_size, window, N_FEATURES), dtype=torch.float32, pin_memory=cuda)
            for _ in range(2 if cuda else 1)
        ]
        self._events: list[torch.cuda.Event | None] = [None] * len(self._buffers)

    def batches(self, ends: np.ndarray, *, limit: int | None = None) -> Iterator[Batch]:
        """Yield batches over `ends` in order (the last one may be short)."""
        ends = np.asarray(ends, dtype=np.int64)
        n = ends.shape[0] if limit is None else min(ends.shape[0], limit * self.batch_size)
        cuda = self.device.type == "cuda"
        for i, s in enumerate(range(0, n, self.batch_size)):
            idx = ends[s : min(s + self.batch_size, n)]
            slot = i % len(self._buffers)
            event = self._events[slot]
            if event is not None:
                event.synchronize()  # the GPU has finished reading this pinned buffer
            buf = self._buffers[slot][: idx.shape[0]]
            gather(self.view, idx, self.scaler, out=buf.numpy())
            x = buf.unsqueeze(1)  # (B, 1, window, 40)
            y = torch.from_numpy(self.labels[idx].astype(np.int64))
            if cuda:
                x = x.to(self.device, non_blocking=True)
                y = y.to(self.device, non_blocking=True)
                ev = torch.cuda.Event()
                ev.record()
                self._events[slot] = ev
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield Batch(x=x, y=y, size=int(idx.shape[0]))

    def num_batches(self, n: int) -> int:
        return -(-n // self.batch_size)

    def epoch_batches(
        self, ends: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[int, Iterator[Batch]]:
        """One epoch over `ends`: shuffled by `rng`, or in order when it is None (evaluation).
        Returns the number of batches and the batches; SegmentBatches has the same method."""
        order = rng.permutation(ends) if rng is not None else np.asarray(ends)
        return self.num_batches(order.shape[0]), self.batches(order)


class WindowDataset(Dataset[tuple[torch.Tensor, int]]):
    """A torch Dataset over the same on-demand windows: item i → ((1, window, 40), label)."""

    def __init__(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        ends: np.ndarray,
        scaler: Scaler | None,
        window: int = WINDOW,
    ) -> None:
        self.view = window_view(features, window)
        self.labels = labels
        self.ends = np.asarray(ends, dtype=np.int64)
        self.scaler = scaler

    def __len__(self) -> int:
        return int(self.ends.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = gather(self.view, self.ends[i : i + 1], self.scaler)[0]
        return torch.from_numpy(x).unsqueeze(0), int(self.labels[self.ends[i]])
