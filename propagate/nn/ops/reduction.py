"""Reduction primitives: sum, mean and max over axes, with or without keepdims."""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.autograd import Primitive, register


def _normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    axes = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for an array with {ndim} dimensions")
        axes.append(int(a) % ndim)
    return tuple(sorted(set(axes)))


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give the reduced adjoint back the reduced axes (as length 1) for broadcasting."""
    return g if keepdims else np.expand_dims(g, axes)


@register
class Sum(Primitive):
    name = "sum"

    @staticmethod
    def forward(a, axis=None, keepdims=False):
        axes = _normalize_axes(axis, a.ndim)
        return np.sum(a, axis=axes, keepdims=keepdims), (a.shape, axes, keepdims)

    @staticmethod
    def vjp(g, ctx, needs):
        shape, axes, keepdims = ctx
        return (np.broadcast_to(_expand(g, axes, keepdims), shape),)


@register
class Mean(Primitive):
    name = "mean"

    @staticmethod
    def forward(a, axis=None, keepdims=False):
        axes = _normalize_axes(axis, a.ndim)
        count = int(np.prod([a.shape[i] for i in axes]))
        return np.mean(a, axis=axes, keepdims=keepdims), (a.shape, axes, keepdims, count)

    @staticmethod
    def vjp(g, ctx, needs):
        shape, axes, keepdims, count = ctx
        return (np.broadcast_to(_expand(g, axes, keepdims) / count, shape),)


@register
class Max(Primitive):
    """Maximum over axes. Tied maxima share the gradient evenly, as torch.amax and JAX do."""

    name = "max"

    @staticmethod
    def forward(a, axis=None, keepdims=False):
        axes = _normalize_axes(axis, a.ndim)
        out = np.max(a, axis=axes, keepdims=True)
        winners = a == out
        ctx = (axes, keepdims, winners, winners.sum(axis=axes, keepdims=True))
        return (out if keepdims else np.squeeze(out, axis=axes)), ctx

    @staticmethod
    def vjp(g, ctx, needs):
        axes, keepdims, winners, count = ctx
        share = _expand(g, axes, keepdims) / count.astype(g.dtype)
        return (np.where(winners, share, 0).astype(g.dtype, copy=False),)
