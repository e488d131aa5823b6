"""Differentiable functions on tensors: activations, softmax, joining and reshaping.

Each function accepts a :class:`~propagate.nn.Tensor` (or an array, taken as a constant)
and records one primitive in the graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from propagate.errors import ShapeError
from propagate.nn.tensor import Tensor, apply, as_tensor


def sigmoid(x) -> Tensor:
    """Logistic function 1 / (1 + e^-x), stable for large |x|."""
    return apply("sigmoid", x)


def tanh(x) -> Tensor:
    return apply("tanh", x)


def relu(x) -> Tensor:
    """max(x, 0), with derivative 0 at x = 0."""
    return apply("relu", x)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope·x; the derivative at 0 is negative_slope."""
    return apply("leaky_relu", x, negative_slope=float(negative_slope))


def softplus(x) -> Tensor:
    """log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|)."""
    return apply("softplus", x)


def gelu(x) -> Tensor:
    """Exact GELU x·Φ(x), with Φ the standard normal CDF (no tanh approximation)."""
    return apply("gelu", x)


def softmax(x, axis: int = -1) -> Tensor:
    return apply("softmax", x, axis=axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return apply("log_softmax", x, axis=axis)


def exp(x) -> Tensor:
    return apply("exp", x)


def log(x) -> Tensor:
    return apply("log", x)


def sqrt(x) -> Tensor:
    return apply("sqrt", x)


def matmul(a, b) -> Tensor:
    return as_tensor(a) @ b


def concatenate(tensors: Sequence, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    if len(tensors) == 0:
        raise ShapeError("concatenate needs at least one tensor")
    return apply("concatenate", *tensors, axis=axis)


def stack(tensors: Sequence, axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    if len(tensors) == 0:
        raise ShapeError("stack needs at least one tensor")
    shapes = {as_tensor(t).shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack needs tensors of one shape, got shapes {sorted(shapes)}")
    return apply("stack", *tensors, axis=axis)
