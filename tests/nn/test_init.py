"""Initialisers: bounds and spread from their formulas, gains, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from propagate import nn
from propagate.errors import ShapeError


def weight(shape=(200, 300)):
    return nn.Parameter(np.empty(shape))


def test_xavier_uniform_bound():
    w = nn.init.xavier_uniform_(weight(), rng=0)
    bound = math.sqrt(6 / (300 + 200))
    assert np.abs(w.data).max() <= bound
    assert np.abs(w.data).max() > 0.99 * bound


def test_xavier_normal_std():
    w = nn.init.xavier_normal_(weight(), gain=2.0, rng=0)
    # 60000 draws: the sample std is within 1% of σ with overwhelming probability.
    assert w.data.std() == pytest.approx(2.0 * math.sqrt(2 / 500), rel=0.01)


def test_kaiming_uniform_relu_bound():
    w = nn.init.kaiming_uniform_(weight(), nonlinearity="relu", rng=0)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.data).max() <= bound
    assert np.abs(w.data).max() > 0.99 * bound


def test_kaiming_normal_fan_out():
    w = nn.init.kaiming_normal_(weight(), mode="fan_out", nonlinearity="relu", rng=0)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 200), rel=0.01)


def test_normal_standard():
    w = nn.init.normal_(weight(), rng=0)
    assert w.data.mean() == pytest.approx(0.0, abs=0.02)
    assert w.data.std() == pytest.approx(1.0, rel=0.01)


def test_zeros():
    assert np.all(nn.init.zeros_(nn.init.normal_(weight(), rng=0)).data == 0.0)


@pytest.mark.parametrize(
    "nonlinearity, param, expected",
    [("linear", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
     ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
     ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75)],
)
def test_calculate_gain(nonlinearity, param, expected):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


def test_unknown_gain():
    with pytest.raises(ValueError, match="'swish'"):
        nn.init.calculate_gain("swish")


def test_seed_reproducible():
    a = nn.init.kaiming_normal_(weight(), rng=42).data
    b = nn.init.kaiming_normal_(weight(), rng=np.random.default_rng(42)).data
    np.testing.assert_array_equal(a, b)


def test_float32_same_draws():
    w32 = nn.init.xavier_uniform_(nn.Parameter(np.empty((3, 4), dtype=np.float32)), rng=1)
    w64 = nn.init.xavier_uniform_(weight((3, 4)), rng=1)
    np.testing.assert_array_equal(w32.data, w64.data.astype(np.float32))


def test_fan_needs_two_dimensions():
    with pytest.raises(ShapeError, match=r"\(5,\)"):
        nn.init.xavier_uniform_(weight((5,)), rng=0)


def test_bad_rng_type():
    with pytest.raises(TypeError, match="Generator"):
        nn.init.normal_(weight(), rng="seed")
