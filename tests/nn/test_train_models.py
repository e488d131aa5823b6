"""MLP construction for training: layer sizes, activations, seeded He and Xavier init."""

import math

import numpy as np
import pytest

from propagate import nn
from propagate.nn.models import ACTIVATIONS, MLPSpec, build_mlp, parse_layers


def test_parse_layers():
    assert parse_layers("64,32") == (64, 32)
    assert parse_layers(" 128 , 7 ") == (128, 7)
    assert parse_layers("none") == ()


@pytest.mark.parametrize(
    "text", ["", "64,", "64,,32", "64,x", "0", "-3", "1.5", "64;32", "1e3", "+5", "²", "٣"]
)
def test_parse_layers_rejects(text):
    with pytest.raises(ValueError, match="invalid layer sizes"):
        parse_layers(text)


def test_mlp_structure():
    model = build_mlp(MLPSpec(64, (32, 16), 10, "tanh"), rng=0)
    kinds = [type(module).__name__ for module in model]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(32, 64), (32,), (16, 32), (16,), (10, 16), (10,)]


def test_mlp_without_hidden_layers():
    model = build_mlp(MLPSpec(5, (), 3), rng=0)
    assert [type(module).__name__ for module in model] == ["Linear"]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_forward_each_activation(activation):
    model = build_mlp(MLPSpec(4, (8,), 2, activation), rng=0, dtype=np.float64)
    out = model(nn.Tensor(np.ones((3, 4))))
    assert out.shape == (3, 2)
    assert type(model[1]).__name__ == ACTIVATIONS[activation][0]


def test_mlp_dtype():
    model32 = build_mlp(MLPSpec(4, (8,), 2), rng=0, dtype=np.float32)
    model64 = build_mlp(MLPSpec(4, (8,), 2), rng=0, dtype=np.float64)
    assert {p.data.dtype for p in model32.parameters()} == {np.dtype(np.float32)}
    assert {p.data.dtype for p in model64.parameters()} == {np.dtype(np.float64)}


def test_mlp_seeded():
    first = build_mlp(MLPSpec(10, (20,), 3), rng=5).state_dict()
    second = build_mlp(MLPSpec(10, (20,), 3), rng=5).state_dict()
    other = build_mlp(MLPSpec(10, (20,), 3), rng=6).state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first["0.weight"], other["0.weight"])


def test_he_init_std():
    # He normal for ReLU, fan-in mode: std = sqrt(2 / fan_in).
    model = build_mlp(MLPSpec(400, (300,), 2, "relu"), rng=0, dtype=np.float64)
    weight = model[0].weight.data
    assert weight.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert abs(weight.mean()) < 0.002


def test_xavier_init_bound_for_tanh():
    # Xavier uniform: bound = gain * sqrt(6 / (fan_in + fan_out)), gain 5/3 for tanh.
    model = build_mlp(MLPSpec(400, (300,), 2, "tanh"), rng=0, dtype=np.float64)
    weight = model[0].weight.data
    bound = 5 / 3 * math.sqrt(6 / 700)
    assert np.abs(weight).max() <= bound
    assert np.abs(weight).max() > 0.99 * bound
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_xavier_init_bound_for_sigmoid():
    model = build_mlp(MLPSpec(400, (300,), 2, "sigmoid"), rng=0, dtype=np.float64)
    bound = math.sqrt(6 / 700)
    assert np.abs(model[0].weight.data).max() <= bound


def test_biases_start_at_zero():
    model = build_mlp(MLPSpec(10, (20, 5), 3), rng=0)
    assert all(np.all(model[i].bias.data == 0) for i in (0, 2, 4))


def test_spec_roundtrip():
    spec = MLPSpec(64, (32, 16), 10, "gelu")
    assert MLPSpec.from_dict(spec.to_dict()) == spec
    assert spec.sizes == (64, 32, 16, 10)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ((0, (8,), 2), "n_inputs must be a positive integer"),
        ((4, (8,), 0), "n_outputs must be a positive integer"),
        ((4, (0,), 2), "hidden sizes must be positive"),
        ((4, (8,), 2, "swish"), "unknown activation 'swish'"),
        ((4, "64", 2), "hidden must be a sequence"),
        ((4, 64, 2), "hidden must be a sequence"),
        ((4, (2.5,), 2), "hidden sizes must be positive integers"),
        ((4, (True,), 2), "hidden sizes must be positive integers"),
    ],
)
def test_spec_rejects(arguments, message):
    with pytest.raises(ValueError, match=message):
        MLPSpec(*arguments)


def test_build_rejects_int_dtype():
    with pytest.raises(ValueError, match="float32 or float64"):
        build_mlp(MLPSpec(4, (8,), 2), dtype=np.int32)


def test_build_too_large_for_memory(monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(nn, "Linear", no_memory)
    with pytest.raises(ValueError, match=r"layer 0 \(4 inputs, 8 outputs\).*smaller layer"):
        build_mlp(MLPSpec(4, (8,), 2))
