"""Normalisation layers: BatchNorm1d (over the batch) and LayerNorm (over trailing axes)."""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.modules.linear import DEFAULT_DTYPE
from propagate.nn.modules.module import Module
from propagate.nn.tensor import Parameter, Tensor, as_tensor


def _float_input(x, *references) -> Tensor:
    """Return ``x`` as a Tensor, converting integer data to the first reference's dtype.

    The mean of integers is float64 in NumPy, which would turn a float32 layer's output into
    float64. Without a reference array (no affine parameters or running statistics) the
    default dtype is used.
    """
    x = as_tensor(x)
    if np.issubdtype(x.dtype, np.floating):
        return x
    dtypes = [r.dtype for r in references if r is not None]
    return Tensor(x.data.astype(dtypes[0] if dtypes else DEFAULT_DTYPE))


class BatchNorm1d(Module):
    """Batch normalisation over inputs of shape (N, C) or (N, C, L).

    In training the batch mean and biased variance normalise the input, and the running
    estimates move by ``momentum`` towards the batch mean and the unbiased variance
    (n/(n-1) times the biased one), as PyTorch does. ``momentum=None`` makes the running
    estimates the plain average over all batches seen so far (momentum 1/k at batch k), also
    as PyTorch does. In evaluation the running estimates normalise the input. The output is
    γ·x̂ + β when ``affine``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=DEFAULT_DTYPE):
        super().__init__()
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.weight = None
            self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    def forward(self, x):
        x = _float_input(x, self.weight, getattr(self, "running_mean", None))
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ShapeError(
                f"BatchNorm1d({self.num_features}) expects input of shape (N, "
                f"{self.num_features}) or (N, {self.num_features}, L), got {x.shape}"
            )
        axes = (0,) if x.ndim == 2 else (0, 2)
        stat_shape = (1, self.num_features) + ((1,) if x.ndim == 3 else ())
        count = x.size // self.num_features

        if self.training or not self.track_running_stats:
            if count < 2:
                raise ShapeError(
                    f"BatchNorm1d in training needs more than one value per channel, got input "
                    f"shape {x.shape}; use a larger batch or call model.eval()"
                )
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean.data, var.data, count)
            x_hat = centred / (var + self.eps).sqrt()
        else:
            mean = self.running_mean.reshape(stat_shape)
            var = self.running_var.reshape(stat_shape)
            x_hat = (x - mean) / np.sqrt(var + self.eps)

        if self.weight is not None:
            x_hat = x_hat * self.weight.reshape(stat_shape) + self.bias.reshape(stat_shape)
        return x_hat

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        unbiased = var.reshape(-1) * (count / (count - 1))
        m = self.momentum
        if m is None:
            m = 1.0 / (int(self.num_batches_tracked) + 1)
        self.running_mean = ((1 - m) * self.running_mean + m * mean.reshape(-1)).astype(
            self.running_mean.dtype)
        self.running_var = ((1 - m) * self.running_var + m * unbiased).astype(
            self.running_var.dtype)
        self.num_batches_tracked = self.num_batches_tracked + 1

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class LayerNorm(Module):
    """Layer normalisation over the last ``len(normalized_shape)`` axes of each sample.

    Uses the biased variance and, with ``elementwise_affine``, a learnable scale and shift
    of shape ``normalized_shape``, as PyTorch does.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=DEFAULT_DTYPE):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = float(eps)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.weight = None
            self.bias = None

    def forward(self, x):
        x = _float_input(x, self.weight)
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise ShapeError(
                f"LayerNorm{self.normalized_shape} expects inputs ending in shape "
                f"{self.normalized_shape}, got {x.shape}"
            )
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        out = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            out = out * self.weight + self.bias
        return out

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
