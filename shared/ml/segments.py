"""Segment batching: the conv-block work of overlapping training windows, done once per row.

Windows that overlap share rows, and DeepLOB's three conv blocks (about three quarters of its
multiply-adds) have no padding in time, so their output row j depends on input rows j..j+18
only. A batch of `batching: segments` is K segments, each the rows of L windows `stride` rows
apart ((L − 1)·stride + 100 rows); the conv blocks run once over each segment, and every window
then takes its own 82 conv rows as a strided slice (`Tensor.unfold`, whose backward sums the
gradients of the shared rows). The inception module runs once per segment row too: its convs,
its max-pool and its BatchNorms, whose statistics are the per-window model's (each row counted
once for every kept window that holds it). Only the positions where a window's own zero (or −∞)
padding matters, its EDGE first and last, are recomputed per window (`_conv_branch`,
`_pool_branch`). The LSTM and the output layer run per window, on sequences cut from the
segment rows in one copy (`_Windows.sequences`). In eval mode a segment's logits equal the
per-window model's, and in training mode so do the inception's batch statistics
(tests/shared/test_segments.py). Only the conv blocks' BatchNorm statistics in training mode
differ: they count each segment row once, not once per window that holds it (BENCHMARKS.md,
"Segment batching", measures that this trains as well).

Order: each epoch cuts every run of training ends into L-window pieces from a random offset,
shuffles the pieces and packs K of them per batch, so batches still mix the whole training
block. The pieces at a run's two edges are shorter; they are read as a full segment that
overlaps their neighbour, and only their own windows are kept (`keep`), so every training window
is trained on exactly once per epoch and no window outside the training ends is ever read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


# Positions at each end of a window whose inception outputs differ from the segment's: the 5×1
# conv's zero padding reaches 2 positions in, the 3×1 conv's and the max-pool's 1.
EDGE = 2


def segment_logits(
    model: DeepLOB,
    x: torch.Tensor,
    length: int,
    keep: torch.Tensor | None = None,
    stride: int = 1,
) -> torch.Tensor:
    """Logits of the windows of K segments.

    x: (K, 1, (length - 1)·stride + T, 40), the rows of `length` windows `stride` rows apart per
    segment; → (K·length, classes) in segment-major order, or only the rows `keep` (distinct,
    in increasing order) indexes.
    """
    z = model.encode(x)  # (K, 32, (length - 1)·stride + T', 1)
    view = _Windows(z, length, stride, keep)
    parts = [_conv_branch(b, z, view) for b in (model.inp1, model.inp2)]
    parts.append(_pool_branch(model.inp3, z, view))
    bns = (model.inp1[5], model.inp2[5], model.inp3[3])
    affine = [
        _affine(bn, view, lambda part=part: view.split_stats(part))
        for bn, part in zip(bns, parts, strict=True)
    ]
    scale, shift = (torch.cat(t)[None, :, None, None] for t in zip(*affine, strict=True))
    rows, left, right = (torch.cat(t, dim=1) * scale + shift for t in zip(*parts, strict=True))
    return model.recur(view.sequences(rows, left, right))


class _Windows:
    """Where the windows lie in their segments' rows, and which of them are kept."""

    def __init__(
        self, z: torch.Tensor, length: int, stride: int, keep: torch.Tensor | None
    ) -> None:
        k, rows = z.shape[0], z.shape[2]
        self.k, self.length, self.stride = k, length, stride
        self.steps = rows - (length - 1) * stride  # T' = 82 conv rows per window
        # Every window kept: no selection (keep holds distinct indices in increasing order).
        self.keep = None if keep is not None and keep.numel() == k * length else keep
        ids = self.keep if self.keep is not None else torch.arange(k * length, device=z.device)
        self.count = float(ids.numel() * self.steps)
        # How many kept windows hold each segment row: its weight in the batch statistics of a
        # per-window model. `inner`: the same, counting only positions EDGE..T'-EDGE-1.
        self.weight = self._cover(ids, rows, 0)
        self.inner = self._cover(ids, rows, EDGE)

    def _cover(self, ids: torch.Tensor, rows: int, trim: int) -> torch.Tensor:
        seg, start = ids // self.length, (ids % self.length) * self.stride + trim
        edges = torch.zeros(self.k, rows + 1, device=ids.device)
        one = torch.ones_like(start, dtype=edges.dtype)
        edges.index_put_((seg, start), one, accumulate=True)
        edges.index_put_((seg, start + self.steps - 2 * trim), -one, accumulate=True)
        return edges.cumsum(1)[:, None, :rows, None]  # (K, 1, rows, 1)

    def slices(self, t: torch.Tensor, size: int, offset: int = 0) -> torch.Tensor:
        """(K, C, rows, 1) → (K·L, C, size, 1): every window's rows offset..offset+size."""
        k, c = t.shape[:2]
        w = t[:, :, offset:, 0].unfold(2, size, self.stride)[:, :, : self.length]
        return w.permute(0, 2, 1, 3).reshape(k * self.length, c, size).unsqueeze(3)

    def kept_only(self, t: torch.Tensor) -> torch.Tensor:
        """Rows of a (K·L, ...) tensor that belong to kept windows."""
        return t if self.keep is None else t.index_select(0, self.keep)

    def stats(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and biased variance over the windows' rows, without copying them;
        in float32 whatever autocast computes in, as native BatchNorm keeps its statistics."""
        t = _wide(t)
        mean = (t * self.weight).sum(dim=(0, 2, 3)) / self.count
        centred = t - mean[None, :, None, None]
        var = (centred * centred * self.weight).sum(dim=(0, 2, 3)) / self.count
        return mean, var

    def split_stats(self, part: _Split) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance over the kept windows' positions of a split tensor: the
        segment rows at their inner weight, plus each kept window's own edge positions."""
        rows, left, right = (_wide(t) for t in part)  # float32, as in `stats`
        left, right = self.kept_only(left), self.kept_only(right)
        dims = (0, 2, 3)
        total = (rows * self.inner).sum(dims) + left.sum(dims) + right.sum(dims)
        mean = total / self.count
        m = mean[None, :, None, None]
        spread = ((rows - m).square() * self.inner).sum(dims)
        spread = spread + (left - m).square().sum(dims) + (right - m).square().sum(dims)
        return mean, spread / self.count

    def sequences(
        self, rows: torch.Tensor, left: torch.Tensor, right: torch.Tensor
    ) -> torch.Tensor:
        """The LSTM's input (n, T', C) of the kept windows: each window's inner positions from
        the segment rows (K, C, rows, 1), its EDGE first and last from left and right
        (K·L, C, EDGE, 1). One copy, in the LSTM's own layout."""
        k, c, size = self.k, rows.shape[1], self.steps - 2 * EDGE
        inner = rows[:, :, EDGE:, 0].unfold(2, size, self.stride)[:, :, : self.length]
        inner = inner.permute(0, 2, 3, 1)  # (K, L, size, C)

        def ends(t: torch.Tensor) -> torch.Tensor:
            return t[..., 0].view(k, self.length, c, EDGE).transpose(2, 3)

        seq = torch.cat((ends(left), inner, ends(right)), dim=2)  # (K, L, T', C)
        return self.kept_only(seq.reshape(k * self.length, self.steps, c))


def _wide(t: torch.Tensor) -> torch.Tensor:
    """t in float32 if autocast made it half precision, else as it is."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


# An inception branch's pre-BatchNorm output, split: (segment rows (K, C, rows, 1), each window's
# first EDGE positions (K·L, C, EDGE, 1), its last EDGE positions).
_Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _conv_branch(branch: torch.nn.Module, z: torch.Tensor, view: _Windows) -> _Split:
    """An inception branch (1×1 conv, act, BN, k×1 'same' conv, act, [BN]) up to its last
    BatchNorm, its convs run once per segment row.

    The 1×1 conv is per row. The first BN's statistics are those of the windows' rows (a row
    counted once for each window that holds it, as the per-window model counts it), applied to
    the segment. The k×1 conv pads with zeros at each window's edges, so its first and last
    EDGE positions are recomputed from each window's own edge rows.
    """
    conv1, act1, bn1, conv_t, act2, _ = branch
    a = _normalise(bn1, act1(conv1(z)), view)  # (K, C, rows, 1)
    p, steps = int(conv_t.padding[0]), view.steps
    left = act2(conv_t(view.slices(a, EDGE + p)))[:, :, :EDGE]  # sees the zero padding
    right = act2(conv_t(view.slices(a, EDGE + p, steps - EDGE - p)))[:, :, -EDGE:]
    return act2(conv_t(a)), left, right


def _pool_branch(branch: torch.nn.Module, z: torch.Tensor, view: _Windows) -> _Split:
    """The max-pool branch (3×1 max-pool, 1×1 conv, act, [BN]) up to its BatchNorm, its pool
    and conv run once per segment row. The pool pads each window with −∞; the EDGE first and
    last positions are recomputed from the window's own rows."""
    pool, conv, act, _ = branch
    p, steps = int(pool.padding[0]), view.steps

    def f(t: torch.Tensor) -> torch.Tensor:
        return act(conv(pool(t)))

    left = f(view.slices(z, EDGE + p))[:, :, :EDGE]
    right = f(view.slices(z, EDGE + p, steps - EDGE - p))[:, :, -EDGE:]
    return f(z), left, right


def _affine(
    bn: torch.nn.BatchNorm2d,
    view: _Windows,
    stats: Callable[[], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel scale and shift that `bn` applies, as in a per-window model: in training
    mode from the windows' batch statistics (`stats`: their mean and biased variance), the
    running ones updated as one `bn` call would; in eval mode from the running statistics."""
    if bn.training or bn.running_mean is None or bn.running_var is None:
        mean, var = stats()
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
    return scale, bn.bias - mean * scale


def _normalise(bn: torch.nn.BatchNorm2d, x: torch.Tensor, view: _Windows) -> torch.Tensor:
    """`bn` on segment rows x (K, C, rows, 1) as a per-window model would apply it."""
    scale, shift = _affine(bn, view, lambda: view.stats(x))
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
