"""The serving path of every zoo model: DeepLOB's fast path, a TorchScript copy for the others,
each equal to the eager model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.ml import zoo
from shared.ml.fastpath import FastDeepLOB, WindowCache
from shared.ml.serving_path import ScriptedPath, serving_path, verify_serving_path
from shared.train_config import TrainConfig


@pytest.mark.parametrize("name", zoo.MODELS)
def test_each_models_serving_path_matches_eager(name):
    # Given a zoo model in eval mode, as the loader leaves it
    torch.manual_seed(0)
    model = zoo.build(zoo.model_config(TrainConfig(model=name))).eval()
    # When its serving path is built and checked against eager
    path = serving_path(model)
    gap = verify_serving_path(path, model)
    # Then DeepLOB slides incrementally, the others run scripted, and both equal eager
    assert isinstance(path, FastDeepLOB if name == "deeplob" else ScriptedPath)
    if isinstance(path, ScriptedPath):
        assert path.how == "script"
    assert gap <= 1e-5, gap
    # and a batch of three windows gives three distributions over (DOWN, NEUTRAL, UP)
    rng = np.random.default_rng(1)
    windows = [rng.standard_normal((100, 40)).astype(np.float32) for _ in range(3)]
    probs = path.predict(windows, [WindowCache() for _ in windows], [100, 100, 100])
    assert probs.shape == (3, 3) and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
