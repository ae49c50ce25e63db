"""Exact incremental DeepLOB forward for a window that slides one snapshot at a time.

Why it is exact: the three conv blocks have no padding in time (1×k spatial convs and 4×1 temporal
convs), so conv-block output row j of a window depends only on input rows j..j+18. When the window
slides by one, every conv output row except the newest is unchanged, just shifted; we keep them and
compute the newest one from the last 19 input rows. The inception module pads in time (3×1 and 5×1
'same' convs, 3×1 max-pool), so only the positions whose receptive field touches a window edge
change: the first `pad` and the last `pad + 1` of the 82. Those are recomputed from 5-row slices,
the rest are shifted. The LSTM starts from a zero state at the window's first row (as published),
so it is rerun over all 82 steps, batched across symbols.

Speed at batch 1 (measured: ~3x faster than eager with 1 thread, far more than eager with the
default threads on 2 busy cores): the sub-networks are TorchScript copies of the serving model's
layers; each conv-block BatchNorm is folded into the unpadded conv after it; one scripted call
does a whole slide step; oneDNN is off around the tiny convs and on for the LSTM. Results equal
eager up to float32 rounding; `verify_against_eager` checks that for every model before it serves.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn


class _ConvBlocks(nn.Module):
    """The three conv blocks with each BatchNorm folded into the unpadded conv after it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.layers = _fold_batchnorms([*model.conv1, *model.conv2, *model.conv3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, 1, T, 40) -> (B, 32, T-18, 1)


def _fold_batchnorms(layers: list[nn.Module]) -> nn.Sequential:
    """conv -> act -> BN -> conv becomes conv -> act -> conv' (eval BN is a per-channel affine).

    Exact only because the next conv has no padding: a padded conv would see the BN shift at
    real rows but zeros at padded ones. 8 of the 9 BNs of the conv blocks go away.
    """
    out: list[nn.Module] = []
    pending: nn.BatchNorm2d | None = None
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d):
            pending = layer
            continue
        if pending is not None and isinstance(layer, nn.Conv2d) and layer.padding == (0, 0):
            layer = _fold(pending, layer)
        elif pending is not None:
            out.append(pending)
        pending = None
        out.append(layer)
    if pending is not None:
        out.append(pending)
    return nn.Sequential(*out)


def _fold(bn: nn.BatchNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_in,)
    shift = bn.bias - bn.running_mean * scale
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        weight = conv.weight * scale[None, :, None, None]
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        folded.weight.copy_(weight)
        folded.bias = nn.Parameter(bias + (conv.weight * shift[None, :, None, None]).sum((1, 2, 3)))
    return folded


class _Inception(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inp1 = model.inp1
        self.inp2 = model.inp2
        self.inp3 = model.inp3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat((self.inp1(x), self.inp2(x), self.inp3(x)), dim=1)  # (B, 192, T', 1)
        return y.squeeze(3).transpose(1, 2)  # (B, T', 192)


class _Slide(nn.Module):
    """One step of S sliding windows: new conv row, shifted caches, recomputed inception edges."""

    def __init__(self, conv_blocks: nn.Module, inception: nn.Module, pad: int) -> None:
        super().__init__()
        self.conv_blocks = conv_blocks
        self.inception = inception
        self.pad = pad
        self.edge = 2 * pad + 1

    def forward(
        self, rows: torch.Tensor, conv: torch.Tensor, inc: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # rows (S, 1, 19, 40): the inputs of the newest conv row; conv (S, 32, T'); inc (S, T', 192)
        new_row = self.conv_blocks(rows)[:, :, :, 0]  # (S, 32, 1)
        conv = torch.cat((conv[:, :, 1:], new_row), dim=2)  # (S, 32, T')
        s, steps, p, e = conv.shape[0], conv.shape[2], self.pad, self.edge
        edges = torch.cat((conv[:, :, :e], conv[:, :, steps - e :]), dim=0)  # (2S, 32, edge)
        out = self.inception(edges.unsqueeze(3))  # (2S, edge, 192)
        inc = torch.cat(
            (
                out[:s, :p],  # left edge: positions 0..p-1 see the window's zero padding
                inc[:, p + 1 : steps - p],  # unchanged rows, shifted by one
                out[s:, p:],  # right edge: the last p+1 positions see the new row
            ),
            dim=1,
        )
        return conv, inc


class _Tail(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.lstm = model.lstm
        self.fc1 = model.fc1

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(seq)  # (B, T', 64), zero initial state
        return torch.softmax(self.fc1(out[:, -1, :]), dim=1)  # (B, 3)


@contextlib.contextmanager
def _onednn_off() -> Iterator[None]:
    # torch.backends.mkldnn.flags() would also touch the TF32 setting and warn on CPU builds.
    was = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = was


def _temporal_kernel(layer: nn.Module) -> int:
    size = layer.kernel_size  # type: ignore[union-attr]
    return int(size[0] if isinstance(size, tuple) else size)


def _scripted(module: nn.Module) -> nn.Module:
    """TorchScript copy: ~2x less per-op overhead than eager at batch 1.

    Scripted, not frozen: torch.jit.freeze makes the weights graph constants that the global
    CompilationUnit keeps forever (pytorch/pytorch#96726), so every hot reload leaked ~5.6 MB
    (the soak test found it); at 1 thread freezing was no faster. torch.jit is deprecated in
    favour of torch.compile, but compile needs a C++ toolchain and tens of seconds per model, too
    slow for a hot reload; torch is pinned, and without TorchScript we fall back to the eager
    modules (same numbers, slower).
    """
    module = module.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(module)
    except (AttributeError, RuntimeError):
        return module


_EMPTY = torch.empty(0)


@dataclass
class WindowCache:
    """Per-symbol cache for the window ending at row `end` (the symbol's row count)."""

    end: int = -1
    conv: torch.Tensor | None = None  # (1, 32, T'), conv-block output rows, channel-major
    inc: torch.Tensor | None = None  # (1, T', 192), inception output, time-major


class FastDeepLOB:
    """Predicts class probabilities for windows that mostly slide by one row."""

    def __init__(self, model: nn.Module, window: int = 100) -> None:
        model = copy.deepcopy(model).eval()
        self.window = window
        with torch.inference_mode():
            probe = torch.zeros(1, 1, window, int(model.cfg.features))
            self.steps = int(model.conv3(model.conv2(model.conv1(probe))).shape[2])  # 82
        self.receptive = window - self.steps + 1  # 19 input rows per conv output row
        # The widest padded temporal layer of the inception module (the 5x1 conv) sets how far
        # a window edge reaches in: 2 positions.
        self.pad = max(
            _temporal_kernel(m) // 2
            for branch in (model.inp1, model.inp2, model.inp3)
            for m in branch.modules()
            if isinstance(m, nn.Conv2d | nn.MaxPool2d)
        )
        conv_blocks, inception = _ConvBlocks(model), _Inception(model)
        self.conv_blocks = _scripted(conv_blocks)
        self.inception = _scripted(inception)
        self.slide = _scripted(_Slide(conv_blocks, inception, self.pad))
        self.tail = _scripted(_Tail(model))

    def predict(
        self, windows: list[np.ndarray], caches: list[WindowCache], ends: list[int]
    ) -> np.ndarray:
        """Probabilities (B, 3) for scaled windows (100, 40) float32, updating each cache.

        `ends[i]` is the symbol's total row count at this window: a cache holding the window that
        ended one row earlier is advanced incrementally, any other is rebuilt from the window.
        Batch 1 (the usual live case) avoids every stack and copy it can.
        """
        incs: list[torch.Tensor] = [_EMPTY] * len(windows)
        slide, full = [], []
        for i, cache in enumerate(caches):
            (slide if cache.inc is not None and cache.end == ends[i] - 1 else full).append(i)
        with torch.inference_mode():
            if full:
                x = torch.from_numpy(np.stack([windows[i] for i in full])).unsqueeze(1)
                with _onednn_off():
                    conv = self.conv_blocks(x)[:, :, :, 0]  # (F, 32, T')
                    inc = self.inception(conv.unsqueeze(3))  # (F, T', 192)
                for j, i in enumerate(full):
                    caches[i].conv, incs[i] = conv[j : j + 1], inc[j : j + 1]
            if slide:
                r = self.receptive
                if len(slide) == 1:
                    cache = caches[slide[0]]
                    rows = torch.from_numpy(windows[slide[0]][-r:]).reshape(1, 1, r, -1)
                    old_conv, old_inc = cache.conv, cache.inc
                else:
                    rows = torch.from_numpy(np.stack([windows[i][-r:] for i in slide])).unsqueeze(1)
                    old_conv = torch.cat([caches[i].conv for i in slide])  # type: ignore[misc]
                    old_inc = torch.cat([caches[i].inc for i in slide])  # type: ignore[misc]
                # oneDNN pays a layout conversion per call that costs more than these tiny
                # convs; the LSTM below, in contrast, is 4x faster with it.
                with _onednn_off():
                    conv, inc = self.slide(rows, old_conv, old_inc)  # (S, 32, T'), (S, T', 192)
                for j, i in enumerate(slide):
                    caches[i].conv, incs[i] = conv[j : j + 1], inc[j : j + 1]
            seq = incs[0] if len(incs) == 1 else torch.cat(incs)  # (B, T', 192)
            probs = self.tail(seq).numpy()  # (B, 3)
        for i, cache in enumerate(caches):
            cache.inc = incs[i]
            cache.end = ends[i]
        return probs


def eager_probs(model: nn.Module, windows: np.ndarray) -> np.ndarray:
    """The plain eager reference: model(x) then softmax, for (B, 100, 40) windows."""
    with torch.no_grad():
        logits = model(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))[:, None])
        return torch.softmax(logits, dim=1).numpy()


class SlidingPredictor(Protocol):
    """What inference serves with: FastDeepLOB, or shared/ml/serving_path.py's ScriptedPath."""

    window: int

    def predict(
        self, windows: list[np.ndarray], caches: list[WindowCache], ends: list[int]
    ) -> np.ndarray: ...


def verify_against_eager(fast: SlidingPredictor, model: nn.Module, *, seed: int = 0) -> float:
    """Slide a random window over 8 steps, two symbols at once; return the max |fast - eager|."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((fast.window + 8, 2, 40)).astype(np.float32)
    caches = [WindowCache(), WindowCache()]
    worst = 0.0
    for end in range(fast.window, fast.window + 8):
        windows = [np.ascontiguousarray(rows[end - fast.window : end, k]) for k in range(2)]
        got = fast.predict(windows, caches, [end, end])
        want = eager_probs(model, np.stack(windows))
        worst = max(worst, float(np.abs(got - want).max()))
    return worst
