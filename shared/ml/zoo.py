"""The model zoo: every network a job can train (TrainConfig.model), by name.

The one registry: the engine builds its model here (runtime.make_model), the checkpoint sidecar
names and rebuilds it here (checkpoint.write_sidecar, read_sidecar, build_model) and config.json
records it from here (run_meta). Each takes a (B, 1, 100, 40) window of scaled snapshots and
returns (B, 3) logits; docs/ARCHITECTURE.md "Models" has their parameter counts.

How the job's (weightless) dropout settings map:
- deeplob: dropout_lstm on the LSTM's inputs, dropout_head before the output layer.
- tlob, mlplob: dropout_head before the output MLP; dropout_lstm does nothing (no LSTM).
- binctabl: neither does anything. Dropout 0.1 after each bilinear layer is part of its
  published network, as no dropout is part of DeepLOB's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from shared.ml.binctabl import BiNCTABL, BiNCTABLConfig
from shared.ml.mlplob import MLPLOB, MLPLOBConfig
from shared.ml.model import DeepLOB, DeepLOBConfig
from shared.ml.tlob import TLOB, TLOBConfig
from shared.train_config import MODEL_NAMES, TrainConfig

ModelConfig = DeepLOBConfig | TLOBConfig | MLPLOBConfig | BiNCTABLConfig

MODELS: tuple[str, ...] = MODEL_NAMES  # ("deeplob", "tlob", "mlplob", "binctabl")


@dataclass(frozen=True)
class _Entry:
    title: str  # as the result table prints it
    config: type[ModelConfig]
    network: Callable[[Any], nn.Module]


_ZOO: dict[str, _Entry] = {
    "deeplob": _Entry("DeepLOB", DeepLOBConfig, DeepLOB),
    "tlob": _Entry("TLOB", TLOBConfig, TLOB),
    "mlplob": _Entry("MLPLOB", MLPLOBConfig, MLPLOB),
    "binctabl": _Entry("BiN-CTABL", BiNCTABLConfig, BiNCTABL),
}
assert tuple(_ZOO) == MODELS, "the zoo and TrainConfig.model must list the same models"


def _entry(name: str) -> _Entry:
    if name not in _ZOO:
        raise ValueError(f"unknown architecture {name!r} (known: {', '.join(MODELS)})")
    return _ZOO[name]


def arch(cfg: ModelConfig) -> str:
    """The zoo name of a model config."""
    for name, entry in _ZOO.items():
        if type(cfg) is entry.config:
            return name
    raise TypeError(f"not a zoo model config: {type(cfg).__name__}")


def title(name: str) -> str:
    return _entry(name).title


def config_from_dict(name: str, data: dict[str, Any]) -> ModelConfig:
    """The typed config from a sidecar's "arch" and "config"; ValueError for an unknown arch,
    TypeError for a key the config does not have."""
    return _entry(name).config.from_dict(data)


def build(cfg: ModelConfig) -> nn.Module:
    """A fresh model (random weights, training mode, CPU) for a typed config."""
    return _entry(arch(cfg)).network(cfg)


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    return build(config_from_dict(name, config))


def model_config(cfg: TrainConfig) -> ModelConfig:
    """The job's network at its paper's settings (window 100, 40 features), with the job's
    dropout settings where the network has a place for them (the module docstring)."""
    if cfg.model == "deeplob":
        return DeepLOBConfig(dropout_lstm=cfg.dropout_lstm, dropout_head=cfg.dropout_head)
    if cfg.model == "tlob":
        return TLOBConfig(dropout_head=cfg.dropout_head)
    if cfg.model == "mlplob":
        return MLPLOBConfig(dropout_head=cfg.dropout_head)
    if cfg.model == "binctabl":
        return BiNCTABLConfig()
    raise ValueError(f"unknown architecture {cfg.model!r} (known: {', '.join(MODELS)})")


def weights_arch(state: Mapping[str, torch.Tensor]) -> str | None:
    """The zoo model whose default state_dict keys best overlap these, if any mostly do: for a
    refusal message only (a checkpoint whose sidecar names another model)."""
    keys = set(state)
    best, score = None, 0.5
    for name, entry in _ZOO.items():
        theirs = set(entry.network(entry.config()).state_dict())
        overlap = len(keys & theirs) / max(len(keys | theirs), 1)
        if overlap > score:
            best, score = name, overlap
    return best
