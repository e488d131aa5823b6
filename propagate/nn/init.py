"""Parameter initialisation: Xavier/Glorot, Kaiming/He, normal and zeros, all seeded.

Every random initialiser takes ``rng``: a ``numpy.random.Generator``, an integer seed, or
None for a fresh unseeded generator. Values are drawn in float64 and then cast to the
tensor's dtype, so a given seed gives the same draws for float32 and float64 models.
"""

from __future__ import annotations

import math

import numpy as np

from propagate.errors import ShapeError

_LINEAR_GAIN = ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")


def as_generator(rng=None) -> np.random.Generator:
    """Return ``rng`` as a Generator: pass a Generator through, seed one from an int.

    None gives a generator seeded from the operating system, so results then differ
    from run to run. Pass a seed or Generator for reproducible runs.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an integer seed or None, not {type(rng).__name__}"
    )


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Return the recommended gain for an activation, with PyTorch's values.

    linear, identity, sigmoid, conv: 1; tanh: 5/3; relu: √2; leaky_relu with negative
    slope a (default 0.01): √(2 / (1 + a²)); selu: 3/4.
    """
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 0.75
    known = _LINEAR_GAIN + ("tanh", "relu", "leaky_relu", "selu")
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}; use one of {known}")


def fan_in_and_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return (fan_in, fan_out) for a weight of shape (out, in, *receptive_field)."""
    if len(shape) < 2:
        raise ShapeError(
            f"fan in and fan out need a weight with at least 2 dimensions, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")


def _fill(tensor, values: np.ndarray):
    tensor.data[...] = values.astype(tensor.data.dtype)
    return tensor


def uniform_(tensor, low: float = 0.0, high: float = 1.0, rng=None):
    """Fill with draws from U(low, high)."""
    return _fill(tensor, as_generator(rng).uniform(low, high, size=tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, rng=None):
    """Fill with draws from N(mean, std²); the defaults give the standard normal."""
    return _fill(tensor, as_generator(rng).normal(mean, std, size=tensor.shape))


def zeros_(tensor):
    tensor.data[...] = 0
    return tensor


def ones_(tensor):
    tensor.data[...] = 1
    return tensor


def constant_(tensor, value: float):
    tensor.data[...] = value
    return tensor


def xavier_uniform_(tensor, gain: float = 1.0, rng=None):
    """Glorot uniform: U(-b, b) with b = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor, gain: float = 1.0, rng=None):
    """Glorot normal: N(0, σ²) with σ = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor.shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, rng=rng)


def kaiming_uniform_(
    tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
):
    """He uniform: U(-b, b) with b = gain·√(3 / fan), gain from ``calculate_gain``.

    ``a`` is the negative slope used for the leaky_relu gain. PyTorch's default Linear
    initialisation is this with a = √5, which gives b = 1/√fan_in.
    """
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(tensor.shape, mode))
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(
    tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
):
    """He normal: N(0, σ²) with σ = gain / √fan."""
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(_fan(tensor.shape, mode))
    return normal_(tensor, 0.0, std, rng=rng)
