"""Reduction primitives: sum, mean and max over axes, with or without keepdims."""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.autograd import Primitive, register


def _normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """Return ``axis`` as sorted non-negative axes, rejecting repeats as NumPy does.

    A 0-d array accepts axis 0 or -1 and reduces nothing, as PyTorch allows.
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    if ndim == 0:
        bad = [a for a in axis if a not in (0, -1)]
        if bad:
            raise ShapeError(f"axis {bad[0]} is out of range for a 0-d array; use 0, -1 or None")
        return ()
    axes = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for an array with {ndim} dimensions")
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axis {tuple(axis)} names the same axis twice; list each axis once")
    return tuple(sorted(axes))


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
        empty = [i for i in axes if a.shape[i] == 0]
        if empty:
            raise ShapeError(
                f"max: cannot reduce axis {empty[0]} of length 0 in shape {a.shape}, because "
                f"the maximum of no values is undefined; check for an empty batch"
            )
        out = np.max(a, axis=axes, keepdims=True)
        winners = a == out
        ctx = (axes, keepdims, winners, winners.sum(axis=axes, keepdims=True))
        return (out if keepdims else np.squeeze(out, axis=axes)), ctx

    @staticmethod
    def vjp(g, ctx, needs):
        axes, keepdims, winners, count = ctx
        # Multiplying by the mask (rather than np.where) gives the result of PyTorch and JAX
        # for a slice whose maximum is NaN. No entry equals NaN, so count is 0 and every
        # entry's gradient becomes (g / 0) * 0 = NaN instead of hiding the NaN behind zeros.
        with np.errstate(divide="ignore", invalid="ignore"):
            share = _expand(g, axes, keepdims) / count.astype(g.dtype)
            return ((share * winners).astype(g.dtype, copy=False),)
