"""DeepLOB as published: parameter count, shapes, logits out, published state_dict names."""

from __future__ import annotations

import torch

from shared.ml.model import DeepLOB, DeepLOBConfig, count_parameters


def test_parameter_count_is_the_published_143907():
    assert count_parameters(DeepLOB()) == 143_907


def test_output_shape_and_logits():
    torch.manual_seed(0)
    model = DeepLOB().eval()
    x = torch.randn(8, 1, 100, 40) * 3
    with torch.no_grad():
        out = model(x)
    assert out.shape == (8, 3)
    assert out.dtype == torch.float32
    # Logits, not probabilities: rows are not a distribution (no softmax inside).
    assert not torch.allclose(out.sum(1), torch.ones(8), atol=1e-3)
    assert not torch.allclose(torch.softmax(out, 1), out, atol=1e-3)
    assert not any(isinstance(m, torch.nn.Softmax) for m in model.modules())


def test_layers_match_the_published_network():
    model = DeepLOB()
    keys = set(model.state_dict())
    # The published module names (so a checkpoint of the public implementation loads).
    for key in (
        "conv1.0.weight",
        "conv2.6.weight",
        "conv3.0.weight",
        "inp1.3.weight",
        "inp2.3.weight",
        "inp3.1.weight",
        "lstm.weight_ih_l0",
        "fc1.weight",
    ):
        assert key in keys
    assert model.conv1[0].kernel_size == (1, 2) and model.conv1[0].stride == (1, 2)
    assert model.conv3[0].kernel_size == (1, 10)
    assert isinstance(model.conv2[1], torch.nn.Tanh)
    assert isinstance(model.conv1[1], torch.nn.LeakyReLU) and model.conv1[1].negative_slope == 0.01
    assert model.lstm.input_size == 192 and model.lstm.hidden_size == 64
    assert model.inp3[0].kernel_size == (3, 1)
    # The LSTM runs over T − 18 = 82 steps of 192 features.
    seen = {}

    def record(module, inputs, output) -> None:
        seen["in"] = inputs[0].shape

    model.lstm.register_forward_hook(record)
    model(torch.zeros(2, 1, 100, 40))
    assert seen["in"] == (2, 82, 192)


def test_gradients_reach_every_parameter_and_config_round_trips():
    model = DeepLOB()
    model(torch.randn(4, 1, 100, 40)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    cfg = DeepLOBConfig.from_dict(model.cfg.to_dict())
    assert cfg == model.cfg


def test_dropout_keeps_the_published_weights_and_is_off_in_eval():
    # Given DeepLOB with both dropouts on
    torch.manual_seed(0)
    plain = DeepLOB()
    dropped = DeepLOB(DeepLOBConfig(dropout_lstm=0.3, dropout_head=0.5))
    # Then it has exactly the paper's parameters and state_dict keys
    assert count_parameters(dropped) == 143_907
    assert set(dropped.state_dict()) == set(plain.state_dict())
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(4, 1, 100, 40)
    # and in eval mode it is the same network; in training mode dropout changes the output
    with torch.no_grad():
        assert torch.equal(dropped.eval()(x), plain.eval()(x))
        torch.manual_seed(1)
        a = dropped.train()(x)
        torch.manual_seed(2)
        b = dropped.train()(x)
    assert not torch.allclose(a, b)
    assert DeepLOBConfig.from_dict({"window": 100}).dropout_head == 0.0  # old sidecars load
