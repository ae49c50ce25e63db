"""Where and how the model runs: device, bf16 autocast, torch.compile, threads, and the step.

`Stepper.train_step` / `Stepper.predict` are shared by the training engine and `lob bench
train`, so the benchmark measures exactly what training does.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.errors import BadConfig, Cancelled
from shared.ml import OMP_PASSIVE, zoo
from shared.ml.losses import FocalLoss
from shared.ml.model import DeepLOB, DeepLOBConfig
from shared.ml.segments import SegmentBatch, segment_logits
from shared.train_config import TrainConfig


@cache
def _cpu_has_amx_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp: bool  # bf16 autocast
    compile: bool  # torch.compile
    channels_last: bool
    threads: int

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self.device),
            "amp": "bf16" if self.amp else "off",
            "compile": self.compile,
            "channels_last": self.channels_last,
            "threads": self.threads,
            "torch": torch.__version__,
        }


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Pick device and defaults; BadConfig for --device cuda without CUDA.

    Defaults (cfg.amp / cfg.compile = None), measured on the 2-core Xeon (Sapphire Rapids):
    - bf16 autocast: on for CUDA (standard for convolutions on tensor cores; not measured
      here); on CPUs with AMX bf16 tiles, where a training step at batch 128 ran 1.8-2.1× faster
      than fp32 (`lob bench train`) and its losses tracked fp32's; else off, because without AMX
      bf16 is emulated and slower than fp32.
    - torch.compile: off. On CPU (bf16) it took 30 s to compile for +8% per step, which short
      runs do not pay back; on CUDA it has not been measured.
    - channels_last: on. bf16 convolutions need it on CPU (bf16 in NCHW measured slower);
      fp32 is about even in either layout.
    """
    cuda = torch.cuda.is_available()
    if cfg.device == "cuda" and not cuda:
        raise BadConfig("--device cuda: CUDA is not available on this machine (use cpu or auto)")
    device = torch.device(
        "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and cuda) else "cpu"
    )
    cuda_run = device.type == "cuda"
    amp_default = torch.cuda.is_bf16_supported() if cuda_run else _cpu_has_amx_bf16()
    threads = choose_threads(device)
    return Runtime(
        device=device,
        amp=amp_default if cfg.amp is None else cfg.amp,
        compile=False if cfg.compile is None else cfg.compile,
        channels_last=True,
        threads=threads,
    )


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# Long enough that /proc/stat's 10 ms ticks give a usable reading on 2 cores, short enough to
# spend at the start of every epoch.
BUSY_SAMPLE_S = 0.25


def busy_cores(interval: float = BUSY_SAMPLE_S) -> float | None:
    """Cores kept busy by running processes now: /proc/stat sampled over `interval` seconds.

    The load average is no guide at a fold's start: it still counts, for a minute or more, work
    that has just ended (a finished test, this process's own previous fold), so a freshly idle
    2-core machine reads as busy and training would run on one thread. The caller sleeps while
    sampling, so its own threads are not counted. None where /proc/stat is missing.
    """

    def snapshot() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle  # guest time is already inside user and nice

    first = snapshot()
    time.sleep(interval)
    second = snapshot()
    if first is None or second is None or second[0] <= first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return cores() * (total - idle) / total


def choose_threads(device: torch.device, own: int = 0) -> int:
    """Intra-op threads: one per core that other processes leave free, at least one.

    Other processes' use is sampled now (busy_cores); where that is unavailable, the 1-minute
    load average stands in, less `own`, this process's share of it (its thread count once it has
    been training a while). Measured on the shared 2-core box at load ≈ 4.5: a bf16 step at
    batch 128 took 0.34 s (median) on 1 thread and 0.75 s on 2, because every parallel region
    waits for a thread that a neighbour holds; on an idle machine 2 threads take 0.22 s.
    On CUDA the CPU only feeds the GPU: a few threads suffice.
    """
    n = cores()
    if device.type == "cuda":
        return min(8, n)
    other = busy_cores()
    if other is None:
        try:
            other = max(0.0, os.getloadavg()[0] - own)
        except OSError:
            return n
    if not OMP_PASSIVE and other >= 1.0:
        return 1  # spinning OpenMP threads on a busy machine (see shared/ml/__init__.py)
    return int(max(1, min(n, math.floor(n - other + 0.5))))


def apply_threads(runtime: Runtime, threads: int | None = None) -> int:
    """Set torch's intra-op threads (the runtime's choice unless `threads` is given)."""
    threads = threads or runtime.threads
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest
    return threads


def make_model(runtime: Runtime, cfg: zoo.ModelConfig | None = None) -> torch.nn.Module:
    """The zoo model for `cfg` (default: the paper's DeepLOB) on the runtime's device.

    channels_last reorders only 4-D weights, the convolutions'; the other models have none, so
    for them it changes nothing (their (B, 1, T, 40) inputs read the same either way).
    """
    model = zoo.build(cfg or DeepLOBConfig()).to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(
    model: torch.nn.Module, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam, or AdamW when there is weight decay; fused (one kernel for all parameters, about
    4× faster a step than the per-parameter loop on the CPU) wherever torch has it."""
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    if weight_decay:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)
    return torch.optim.Adam(params, lr=lr, fused=fused)


class Stepper:
    """One optimisation step and one evaluation pass, under the runtime's precision settings."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        loss_fn: FocalLoss,
        runtime: Runtime,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.runtime = runtime
        self.forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(model) if runtime.compile else model  # type: ignore[assignment]
        )

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, segment: SegmentBatch | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """→ (summed loss, number correct) as 0-d tensors (no host sync here).

        `segment`: x holds that batch's segments (shared/ml/segments.py), perhaps augmented, and
        y the labels of its kept windows; None: x holds one window per label.
        """
        assert self.optimizer is not None, "a Stepper built for evaluation cannot train"
        self.optimizer.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            logits = self._logits(x, segment)
        loss = self.loss_fn(logits, y)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum()
        return loss.detach() * y.shape[0], correct

    def _logits(self, x: torch.Tensor, segment: SegmentBatch | None) -> torch.Tensor:
        if segment is None:
            return self.forward(x)
        # TrainConfig refuses segments for any other model.
        assert isinstance(self.model, DeepLOB), "segment batches need DeepLOB"
        return segment_logits(self.model, x, segment.length, segment.keep, segment.stride)

    def predict(
        self, batches: Iterator[Any], should_stop: Callable[[], bool] | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean loss, predicted classes and true classes over `batches` (model in eval mode)."""
        loss, probs, true = self.evaluate(batches, should_stop)
        return loss, probs.argmax(1), true

    @torch.inference_mode()
    def evaluate(
        self, batches: Iterator[Any], should_stop: Callable[[], bool] | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean loss, class probabilities (n, 3) float64 and true classes over `batches`."""
        self.model.eval()
        try:
            loss_sum = torch.zeros((), device=self.runtime.device, dtype=torch.float64)
            weight_sum = 0.0
            probs, trues = [], []
            for batch in batches:
                if should_stop is not None and should_stop():
                    raise Cancelled("training cancelled during validation")
                with self.runtime.autocast():  # segments: exact in eval mode, ~3x faster
                    logits = self._logits(
                        batch.x, batch if isinstance(batch, SegmentBatch) else None
                    )
                alpha = self.loss_fn.alpha
                w = (
                    alpha[batch.y]
                    if alpha is not None
                    else torch.ones_like(batch.y, dtype=torch.float32)
                )
                # The loss is a weighted mean; undo the division to average over all batches.
                loss_sum += self.loss_fn(logits, batch.y).double() * w.sum().double()
                weight_sum += float(w.sum())
                probs.append(torch.softmax(logits.double(), dim=1).cpu())
                trues.append(batch.y.cpu())
        finally:
            self.model.train()
        prob = torch.cat(probs).numpy() if probs else np.zeros((0, 3), np.float64)
        true = torch.cat(trues).numpy() if trues else np.zeros(0, np.int64)
        return float(loss_sum) / max(weight_sum, 1e-12), prob, true
