"""The path inference serves a zoo model with, and its check against the eager model.

DeepLOB gets its exact incremental fast path (shared/ml/fastpath.py). The other models have no
such shortcut: BiN's statistics and the attention or mixing over time see every row of the
window, so every output changes when it slides by one. They get ScriptedPath, a TorchScript copy
of the whole network run over the full window (less per-op overhead than eager at batch 1, which
is why the fast path scripts its parts too).

    path = serving_path(serving.model)
    gap = verify_serving_path(path, serving.model)  # max |path - eager| probability
    probs = path.predict(windows, caches, seqs)  # (B, 3)
"""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import torch
from torch import nn

from shared.data.schema import N_FEATURES, WINDOW
from shared.ml.fastpath import FastDeepLOB, WindowCache, verify_against_eager
from shared.ml.model import DeepLOB

log = logging.getLogger(__name__)


def _compiled(model: nn.Module, window: int) -> tuple[nn.Module, str]:
    """TorchScript (scripted, else traced), else the eager module: (module, how).

    Scripted, not frozen, for the reason fastpath._scripted gives (freezing leaks on reload).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation and tracer warnings
        try:
            return torch.jit.script(model), "script"
        except (AttributeError, RuntimeError) as exc:
            log.warning("TorchScript could not script %s (%s); tracing it", type(model), exc)
        try:
            example = torch.zeros(1, 1, window, N_FEATURES)
            return torch.jit.trace(model, example, check_trace=False), "trace"
        except (AttributeError, RuntimeError) as exc:
            log.warning("TorchScript could not trace %s (%s); serving eager", type(model), exc)
    return model, "eager"


class ScriptedPath:
    """Class probabilities for whole windows: the predict signature of FastDeepLOB, no cache."""

    def __init__(self, model: nn.Module, window: int = WINDOW) -> None:
        self.window = window
        self.net, self.how = _compiled(copy.deepcopy(model).eval(), window)

    def predict(
        self, windows: list[np.ndarray], caches: list[WindowCache], ends: list[int]
    ) -> np.ndarray:
        """Probabilities (B, 3) for scaled windows (100, 40) float32; caches and ends unused."""
        del caches, ends  # every window is computed whole
        x = np.stack(windows) if len(windows) > 1 else windows[0][None]
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(np.asarray(x, dtype=np.float32)).unsqueeze(1))
            return torch.softmax(logits, dim=1).numpy()  # (B, 3)


ServingPath = FastDeepLOB | ScriptedPath


def serving_path(model: nn.Module) -> ServingPath:
    """The serving path for a zoo model in eval mode (the model itself is left as it is)."""
    if isinstance(model, DeepLOB):
        return FastDeepLOB(model)
    return ScriptedPath(model)


def verify_serving_path(path: ServingPath, model: nn.Module) -> float:
    """Max |path - eager| over the probabilities of a random window sliding 8 steps, two symbols
    at once (fastpath.verify_against_eager); the model must be in eval mode."""
    return verify_against_eager(path, model)
