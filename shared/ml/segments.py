"""Segment batching: the conv-block work of overlapping training windows, done once per row.

Windows that overlap share rows, and DeepLOB's three conv blocks (about three quarters of its
multiply-adds) have no padding in time, so their output row j depends on input rows j..j+18
only. A batch of `batching: segments` is K segments, each the rows of L windows `stride` rows
apart ((L − 1)·stride + 100 rows); the conv blocks run once over each segment, and every window
then takes its own 82 conv rows as a strided slice (`Tensor.unfold`, whose backward sums the
gradients of the shared rows). The inception module's two padded convs also run once per
segment row, with the per-window model's BatchNorm statistics and the window-edge positions
recomputed (`_shared_branch`); its max-pool branch, the LSTM and the output layer run per
window. In eval mode a segment's logits equal the per-window model's, and in training mode so do
the inception's batch statistics (tests/shared/test_segments.py). Only the conv blocks'
BatchNorm statistics in training mode differ: they count each segment row once, not once per
window that holds it (BENCHMARKS.md, "Segment batching", measures that this trains as well).

Order: each epoch cuts every run of training ends into L-window pieces from a random offset,
shuffles the pieces and packs K of them per batch, so batches still mix the whole training
block. The pieces at a run's two edges are shorter; they are read as a full segment that
overlaps their neighbour, and only their own windows are kept (`keep`), so every training window
is trained on exactly once per epoch and no window outside the training ends is ever read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shared.data.schema import N_FEATURES
from shared.ml.model import DeepLOB
from shared.ml.windows import Batcher

# Segments per batch: 8 segments of 16 windows at batch 128 (BENCHMARKS.md, "Segment batching").
SEGMENTS_PER_BATCH = 8
# Rows between a training segment's windows. Adjacent windows (stride 1) have near-identical
# inputs and labels, so a batch of 8 segments learnt like one of 8 windows; 10 rows apart they
# train as well as independent windows and still share most conv rows (BENCHMARKS.md, "Segment
# batching").
SEGMENT_STRIDE = 10


def segment_length(batch_size: int) -> int:
    """Windows per segment for a batch of `batch_size` windows."""
    return max(1, batch_size // SEGMENTS_PER_BATCH)


def segment_logits(
    model: DeepLOB,
    x: torch.Tensor,
    length: int,
    keep: torch.Tensor | None = None,
    stride: int = 1,
) -> torch.Tensor:
    """Logits of the windows of K segments.

    x: (K, 1, (length - 1)·stride + T, 40), the rows of `length` windows `stride` rows apart per
    segment; → (K·length, classes) in segment-major order, or only the rows `keep` indexes.
    """
    z = model.encode(x)  # (K, 32, (length - 1)·stride + T', 1)
    view = _Windows(z, length, stride, keep)
    branches = [_shared_branch(b, z, view) for b in (model.inp1, model.inp2)]
    branches.append(model.inp3(view.slices(z)))  # max-pool, 1×1 conv: cheap, per window
    return model.tail(torch.cat(branches, dim=1))


class _Windows:
    """Where the kept windows lie in their segments' rows."""

    def __init__(
        self, z: torch.Tensor, length: int, stride: int, keep: torch.Tensor | None
    ) -> None:
        k, rows = z.shape[0], z.shape[2]
        self.length, self.stride, self.keep = length, stride, keep
        self.steps = rows - (length - 1) * stride  # T' = 82 conv rows per window
        # How many kept windows hold each segment row: the weight of that row in the batch
        # statistics of a per-window model.
        ids = keep if keep is not None else torch.arange(k * length, device=z.device)
        seg, start = ids // length, (ids % length) * stride
        edges = torch.zeros(k, rows + 1, device=z.device, dtype=z.dtype)
        one = torch.ones_like(start, dtype=z.dtype)
        edges.index_put_((seg, start), one, accumulate=True)
        edges.index_put_((seg, start + self.steps), -one, accumulate=True)
        self.weight = edges.cumsum(1)[:, None, :rows, None]  # (K, 1, rows, 1)
        self.count = float(ids.numel() * self.steps)

    def slices(self, t: torch.Tensor, size: int | None = None, offset: int = 0) -> torch.Tensor:
        """(K, C, rows, 1) → (n, C, size, 1): each kept window's rows offset..offset+size."""
        size = size or self.steps
        k, c = t.shape[:2]
        w = t[:, :, offset:, 0].unfold(2, size, self.stride)[:, :, : self.length]
        w = w.permute(0, 2, 1, 3).reshape(k * self.length, c, size)
        return (w if self.keep is None else w.index_select(0, self.keep)).unsqueeze(3)

    def stats(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and biased variance over the windows' rows, without copying them."""
        mean = (t * self.weight).sum(dim=(0, 2, 3)) / self.count
        centred = t - mean[None, :, None, None]
        var = (centred * centred * self.weight).sum(dim=(0, 2, 3)) / self.count
        return mean, var


def _shared_branch(branch: torch.nn.Module, z: torch.Tensor, view: _Windows) -> torch.Tensor:
    """An inception branch (1×1 conv, act, BN, k×1 'same' conv, act, BN) whose convs run once
    per segment row, with the per-window model's outputs and batch statistics.

    The 1×1 conv is per row. The first BN's statistics are those of the windows' rows (a row
    counted once for each window that holds it, as the per-window model counts it), applied to
    the segment. The k×1 conv pads with zeros at each window's edges, so its first and last
    k // 2 positions are recomputed from each window's own edge rows.
    """
    conv1, act1, bn1, conv_t, act2, bn2 = branch
    u = act1(conv1(z))  # (K, C, rows, 1)
    a = _normalise(bn1, u, view)
    t_win = view.slices(conv_t(a))  # (n, C, T', 1): interior positions are exact
    p, steps = int(conv_t.padding[0]), view.steps
    if p:
        left = conv_t(view.slices(a, 2 * p))[:, :, :p]  # sees the window's own zero padding
        right = conv_t(view.slices(a, 2 * p, steps - 2 * p))[:, :, p:]
        t_win = torch.cat((left, t_win[:, :, p : steps - p], right), dim=2)
    return bn2(act2(t_win))


def _normalise(bn: torch.nn.BatchNorm2d, x: torch.Tensor, view: _Windows) -> torch.Tensor:
    """`bn` on segment rows x as a per-window model would apply it: in training mode with the
    windows' batch statistics (the running ones updated as one `bn` call would), in eval mode
    with the running statistics."""
    if bn.training or bn.running_mean is None or bn.running_var is None:
        mean, var = view.stats(x)
        if bn.training and bn.running_mean is not None and bn.running_var is not None:
            n = view.count
            with torch.no_grad():
                bn.num_batches_tracked += 1  # type: ignore[operator]
                m = bn.momentum if bn.momentum is not None else 1.0 / int(bn.num_batches_tracked)
                bn.running_mean.mul_(1 - m).add_(mean, alpha=m)
                bn.running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1)), alpha=m)
    else:
        mean, var = bn.running_mean, bn.running_var
    scale = torch.rsqrt(var + bn.eps) * bn.weight
    shift = bn.bias - mean * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


@dataclass(frozen=True)
class Piece:
    start: int  # end row of the segment's first window
    length: int  # windows in the segment (L, or fewer for a run shorter than L)
    keep_from: int  # windows [keep_from, keep_to) of the segment are trained on
    keep_to: int


def plan(
    ends: np.ndarray, length: int, rng: np.random.Generator | None, stride: int = 1
) -> list[Piece]:
    """Cut the sorted ends into shuffled pieces of `length` windows `stride` rows apart.

    rng None: no random offset and no shuffle, so with stride 1 the kept windows come in the
    order of `ends` (evaluation).
    """
    ends = np.asarray(ends, dtype=np.int64)
    if ends.size == 0:
        return []
    pieces: list[Piece] = []
    for run in np.split(ends, np.flatnonzero(np.diff(ends) != 1) + 1):
        for r in range(min(stride, run.size)):
            pieces += _cut(run[r::stride], length, rng)
    if rng is None:
        return pieces
    return [pieces[i] for i in rng.permutation(len(pieces))]


def _cut(sub: np.ndarray, length: int, rng: np.random.Generator | None) -> list[Piece]:
    """Pieces of one evenly spaced run of ends, from a random offset (indices into `sub`)."""
    n = int(sub.size)
    if n <= length:
        return [Piece(int(sub[0]), n, 0, n)]  # shorter than a segment: one short segment
    offset = int(rng.integers(0, length)) if rng is not None else 0
    out = [Piece(int(sub[0]), length, 0, offset)] if offset else []
    i = offset
    while i + length <= n:
        out.append(Piece(int(sub[i]), length, 0, length))
        i += length
    if i < n:  # the tail: a full segment ending at the run's end, keeping its new windows
        last = n - length
        out.append(Piece(int(sub[last]), length, i - last, length))
    return out


@dataclass
class SegmentBatch:
    x: torch.Tensor  # (K, 1, L + window - 1, 40) float32 on the target device
    y: torch.Tensor  # (n,) int64 labels of the kept windows
    size: int  # n
    length: int  # L: windows per segment
    stride: int  # rows between a segment's consecutive windows
    keep: torch.Tensor  # (n,) int64 indices into the K·L windows, segment-major
    groups: torch.Tensor  # (n,) int64 the segment of each kept window (for augmentation)


class SegmentBatches(Batcher):
    """Training batches of K segments of L windows each; the training-side twin of WindowBatches."""

    def __init__(self, *args: Any, stride: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.length = segment_length(self.batch_size)
        self.stride = stride
        self.per_batch = max(1, self.batch_size // self.length)

    def epoch(self, ends: np.ndarray, rng: np.random.Generator | None) -> list[list[Piece]]:
        """This epoch's batches as lists of pieces, K segments to a batch.

        rng None: every end once, in order at stride 1 (evaluation); a short segment ends a batch.
        """
        pieces = plan(ends, self.length, rng, self.stride)
        if rng is None:
            out: list[list[Piece]] = []
            for p in pieces:
                if not out or len(out[-1]) == self.per_batch or out[-1][0].length != p.length:
                    out.append([])
                out[-1].append(p)
            return out
        full = [p for p in pieces if p.length == self.length]
        batches = [full[i : i + self.per_batch] for i in range(0, len(full), self.per_batch)]
        return batches + [[p] for p in pieces if p.length != self.length]

    def epoch_batches(
        self, ends: np.ndarray, rng: np.random.Generator | None
    ) -> tuple[int, Iterator[SegmentBatch]]:
        """One epoch over `ends` (see `epoch`): the number of batches and the batches, as
        WindowBatches.epoch_batches gives them."""
        planned = self.epoch(ends, rng)
        return len(planned), self.batches(planned)

    def batches(self, batches: list[list[Piece]]) -> Iterator[SegmentBatch]:
        """Yield the planned batches in order: one copy of each segment's rows, scaled."""
        cuda = self.device.type == "cuda"
        for pieces in batches:
            length = pieces[0].length
            rows = (length - 1) * self.stride + self.window
            x = np.empty((len(pieces), rows, N_FEATURES), dtype=np.float32)
            keep, groups = [], []
            for j, p in enumerate(pieces):
                first = p.start - self.window + 1
                np.copyto(x[j], self.features[first : first + rows])
                keep.append(np.arange(p.keep_from, p.keep_to) + j * length)
                groups.append(np.full(p.keep_to - p.keep_from, j))
            if self.scaler is not None:
                self.scaler.transform(x, out=x)
            kept = np.concatenate(keep)
            ends = np.concatenate([np.full(length, p.start) for p in pieces])
            ends = ends + np.tile(np.arange(length) * self.stride, len(pieces))
            tensors = [
                torch.from_numpy(x).unsqueeze(1),
                torch.from_numpy(self.labels[ends[kept]].astype(np.int64)),
                torch.from_numpy(kept.astype(np.int64)),
                torch.from_numpy(np.concatenate(groups).astype(np.int64)),
            ]
            if cuda:
                tensors = [t.pin_memory().to(self.device, non_blocking=True) for t in tensors]
            xt, yt, kt, gt = tensors
            if self.channels_last:
                xt = xt.contiguous(memory_format=torch.channels_last)
            yield SegmentBatch(
                x=xt,
                y=yt,
                size=int(yt.shape[0]),
                length=length,
                stride=self.stride,
                keep=kt,
                groups=gt,
            )
