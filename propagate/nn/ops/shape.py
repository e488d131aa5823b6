"""Shape primitives: reshape, transpose, indexing, concatenate and stack."""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.autograd import Primitive, register
from propagate.nn.ops.arithmetic import match_float_dtype


@register
class Reshape(Primitive):
    name = "reshape"

    @staticmethod
    def forward(a, shape):
        try:
            return a.reshape(shape), a.shape
        except ValueError:
            raise ShapeError(
                f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}"
            ) from None

    @staticmethod
    def vjp(g, shape, needs):
        return (g.reshape(shape),)


@register
class Transpose(Primitive):
    """Permute axes; ``axes=None`` reverses them, as ``numpy.transpose`` does."""

    name = "transpose"

    @staticmethod
    def forward(a, axes=None):
        out = np.transpose(a, axes)
        if axes is not None:
            # argsort inverts a permutation only when its entries are 0..ndim-1, so -1 and
            # the like are mapped to their positive axis first.
            axes = tuple(int(axis) % a.ndim for axis in axes)
        return out, axes

    @staticmethod
    def vjp(g, axes, needs):
        inverse = None if axes is None else np.argsort(axes)
        return (np.transpose(g, inverse),)


@register
class GetItem(Primitive):
    """Basic and integer-array indexing. The VJP scatters with ``np.add.at``, so an entry
    selected several times receives the sum of its adjoints.

    NOTE: each VJP allocates a dense gradient of the whole input, so taking T slices of one
    tensor costs O(T · input size) in backward, quadratic in T for an unrolled sequence.
    """

    name = "getitem"

    @staticmethod
    def forward(a, index):
        return a[index], (a.shape, a.dtype, index)

    @staticmethod
    def vjp(g, ctx, needs):
        shape, dtype, index = ctx
        grad = np.zeros(shape, dtype=dtype)
        np.add.at(grad, index, g)
        return (grad,)


@register
class Concatenate(Primitive):
    name = "concatenate"

    @staticmethod
    def forward(*arrays, axis=0):
        arrays = match_float_dtype(*arrays)
        if any(a.ndim == 0 for a in arrays):
            raise ShapeError("concatenate: 0-d tensors have no axis to join along; use stack")
        if not -arrays[0].ndim <= axis < arrays[0].ndim:
            raise ShapeError(
                f"concatenate: axis {axis} is out of range for shape {arrays[0].shape}; pass "
                f"an axis in [-{arrays[0].ndim}, {arrays[0].ndim})"
            )
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = [a.shape for a in arrays]
            raise ShapeError(
                f"cannot concatenate shapes {shapes} along axis {axis}; all other axes must match"
            ) from None
        sizes = [a.shape[axis] for a in arrays]
        return out, (axis, np.cumsum(sizes)[:-1], [a.dtype for a in arrays])

    @staticmethod
    def vjp(g, ctx, needs):
        axis, splits, dtypes = ctx
        pieces = np.split(g, splits, axis=axis)
        return tuple(p.astype(d, copy=False) for p, d in zip(pieces, dtypes, strict=True))


@register
class Stack(Primitive):
    name = "stack"

    @staticmethod
    def forward(*arrays, axis=0):
        arrays = match_float_dtype(*arrays)
        out = np.stack(arrays, axis=axis)
        return out, (axis, [a.dtype for a in arrays])

    @staticmethod
    def vjp(g, ctx, needs):
        axis, dtypes = ctx
        pieces = np.moveaxis(g, axis, 0)
        return tuple(p.astype(d, copy=False) for p, d in zip(pieces, dtypes, strict=True))
