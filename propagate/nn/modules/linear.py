"""Linear layer y = x Wᵀ + b, plus the shape-only layers Identity and Flatten."""

from __future__ import annotations

import math

import numpy as np

from propagate.errors import ShapeError
from propagate.nn import init
from propagate.nn.modules.module import Module
from propagate.nn.tensor import Parameter, as_tensor

DEFAULT_DTYPE = np.float64


class Linear(Module):
    """Affine layer ``x @ weight.T + bias``, shaped as PyTorch's.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether to add a learnable bias of shape (out_features,).
    rng : numpy.random.Generator, int or None
        Source of the initial weights (see :func:`propagate.nn.init.as_generator`).
    dtype : numpy dtype
        dtype of the parameters. The default is float64, the precision in which the engine
        is checked; pass ``np.float32`` for faster training.

    Notes
    -----
    ``weight`` has shape (out_features, in_features). Initialisation follows PyTorch's
    default: weight from Kaiming uniform with a = √5, i.e. U(-1/√in, 1/√in), and bias from
    U(-1/√in, 1/√in).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ShapeError(
                f"Linear needs positive sizes, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        rng = init.as_generator(rng)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            bound = 1 / math.sqrt(in_features)
            init.uniform_(self.bias, -bound, bound, rng=rng)
        else:
            self.bias = None

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear expects inputs whose last axis has {self.in_features} features, "
                f"got shape {x.shape}"
            )
        out = x @ self.weight.T
        if self.bias is not None:
            out = out + self.bias
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Return the input unchanged."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten every axis after the first (batch) axis into one."""

    def forward(self, x):
        x = as_tensor(x)
        return x.reshape(x.shape[0], -1)
