"""The model zoo: each network's parameter count against its reference, shapes, configs, the
job setting that picks one, and one tiny training run of each through the real engine.

The reference counts below come from the TLOB paper's code, github.com/LeonardoBerti00/TLOB at
commit aedcf83db3c772a1d693c499951f502d290ecfff (models/tlob.py, models/mlplob.py,
models/binctabl.py), each instantiated at the settings named in its test and counted with
sum(p.numel() for p in model.parameters()). It was run once by hand, outside this suite (it
needs einops and the repository's `constants` module); with its weights copied into ours, every
model's outputs matched the reference's within 1.2e-6 (BiN-CTABL's after the softmax that the
reference applies inside its forward).
"""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from shared.ml import zoo
from shared.ml.binctabl import BiNCTABL, BiNCTABLConfig
from shared.ml.checkpoint import load_serving_model, read_sidecar
from shared.ml.finalize import format_result
from shared.ml.mlplob import MLPLOB, MLPLOBConfig
from shared.ml.model import DeepLOB, DeepLOBConfig, count_parameters
from shared.ml.tlob import TLOB, TLOBConfig
from shared.ml.training import run_training
from shared.train_config import TrainConfig
from tests.support.trainkit import make_dataset

NEW = ("tlob", "mlplob", "binctabl")


def test_tlob_parameter_count_at_the_papers_settings():
    # Reference: TLOB(hidden_dim=40, num_layers=4, seq_size=128, num_features=40, num_heads=1,
    # is_sin_emb=True, dataset_type="FI_2010"), config/config.py's fixed TLOB settings, has
    # 1,135,974 parameters; 3 of them are its LOBSTER order-type nn.Embedding(3, 1), unused on
    # 40 book features and left out here.
    assert count_parameters(TLOB(TLOBConfig(window=128))) == 1_135_974 - 3
    # The same network at our window of 100 (the reference at seq_size=100: 734,481 − 3).
    assert count_parameters(TLOB()) == 734_478


def test_mlplob_parameter_count_at_the_papers_settings():
    # Reference: MLPLOB(hidden_dim=40, num_layers=3, seq_size=384, num_features=40,
    # dataset_type="FI_2010"), config/config.py's fixed MLPLOB settings, has 3,012,414
    # parameters, 3 of them the order-type embedding left out here.
    assert count_parameters(MLPLOB(MLPLOBConfig(window=384))) == 3_012_414 - 3
    # At our window of 100 (the reference at seq_size=100: 234,621 − 3).
    assert count_parameters(MLPLOB()) == 234_618


def test_binctabl_parameter_count_at_the_papers_settings():
    # Reference: BiN_CTABL(60, 40, 10, 10, 120, 5, 3, 1), as utils/utils_model.py builds it
    # for the papers' 10-step input: 11,446 parameters. By hand: BiN 2·40 + 2·10 + 2 = 102;
    # BL 60·40 + 10·10 + 60·10 = 3,100; BL 120·60 + 10·5 + 120·5 = 7,850; TABL
    # 3·120 + 5·5 + 5·1 + 3·1 + 1 = 394.
    assert count_parameters(BiNCTABL(BiNCTABLConfig(window=10))) == 11_446
    # At our window of 100 (BiN 282, first BL 60·40 + 100·10 + 60·10 = 4,000).
    assert count_parameters(BiNCTABL()) == 12_526


def test_deeplob_keeps_its_published_count_through_the_zoo():
    assert count_parameters(zoo.build(zoo.model_config(TrainConfig()))) == 143_907


@pytest.mark.parametrize("name", zoo.MODELS)
def test_every_model_maps_windows_to_logits_and_its_config_round_trips(name):
    # Given the job's model at our settings
    torch.manual_seed(0)
    cfg = zoo.model_config(TrainConfig(model=name))
    model = zoo.build(cfg).eval()
    # When a batch of windows goes through it
    x = torch.randn(5, 1, 100, 40) * 3
    with torch.no_grad():
        out = model(x)
        one = model(x[:1])
    # Then it gives (B, 3) finite logits, batch 1 included, and no softmax
    assert out.shape == (5, 3) and one.shape == (1, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(one, out[:1], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out.sum(1), torch.ones(5), atol=1e-3)
    # and a constant window (the loader's zero test input) stays finite
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(2, 1, 100, 40))).all()
    # and its config survives the sidecar's JSON under its name
    assert zoo.arch(cfg) == name
    assert zoo.config_from_dict(name, json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("name", NEW)
def test_gradients_reach_every_parameter(name):
    model = zoo.build(zoo.model_config(TrainConfig(model=name)))
    model(torch.randn(4, 1, 100, 40)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_dropout_settings_map_where_each_network_has_a_place_for_them():
    cfg = TrainConfig(dropout_lstm=0.2, dropout_head=0.3)
    assert zoo.model_config(cfg) == DeepLOBConfig(dropout_lstm=0.2, dropout_head=0.3)
    tlob = zoo.model_config(cfg.model_copy(update={"model": "tlob"}))
    assert tlob == TLOBConfig(dropout_head=0.3)
    mlplob = zoo.model_config(cfg.model_copy(update={"model": "mlplob"}))
    assert mlplob == MLPLOBConfig(dropout_head=0.3)
    # BiN-CTABL keeps its paper's dropout after each bilinear layer.
    binctabl = zoo.model_config(cfg.model_copy(update={"model": "binctabl"}))
    assert binctabl == BiNCTABLConfig() and binctabl.dropout == 0.1


def test_the_zoo_refuses_an_unknown_name_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown architecture 'lstm'.*deeplob, tlob, mlplob"):
        zoo.build_model("lstm", {})
    assert isinstance(zoo.build_model("deeplob", DeepLOBConfig().to_dict()), DeepLOB)


def test_train_config_names_the_models_and_refuses_segments_for_the_new_ones():
    assert zoo.MODELS == ("deeplob", "tlob", "mlplob", "binctabl")
    assert TrainConfig().model == "deeplob"
    with pytest.raises(ValidationError, match="'deeplob', 'tlob', 'mlplob' or 'binctabl'"):
        TrainConfig(model="lstm")
    for name in NEW:
        with pytest.raises(ValidationError, match="batching 'segments' needs model 'deeplob'"):
            TrainConfig(model=name, batching="segments")
    assert TrainConfig(model="deeplob", batching="segments").batching == "segments"


@pytest.mark.slow
@pytest.mark.parametrize("name", NEW)
def test_each_new_model_trains_through_the_engine_and_serves(lob_home, name):
    # Given a tiny book and a quick (one-epoch) one-fold run of the model, as `lob train --quick`
    make_dataset("zoo", 450)
    cfg = TrainConfig(model=name, quick=True, span=20, h=10, folds=1, batch_size=64)
    run_dir = lob_home / "runs" / name
    # When the engine trains and scores it
    result = run_training(cfg, dataset="zoo", run_dir=run_dir, progress=False)
    # Then the result, config.json and the sidecar name the model
    assert result["arch"] == name and result["model"]["samples"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["model"] == name and config["model"]["arch"] == name
    sidecar = json.loads((run_dir / "fold1" / "model.json").read_text())
    assert sidecar["arch"] == name
    assert read_sidecar(run_dir, 1) == zoo.model_config(cfg)
    assert f"{zoo.title(name)} (fold 1)" in format_result(result)
    # and the served fold loads for inference as that model
    served = load_serving_model(run_dir, fold=1)
    assert type(served.model) is type(zoo.build(zoo.model_config(cfg)))
