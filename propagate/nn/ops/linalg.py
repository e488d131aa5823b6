"""Matrix product primitive, for 1-D, 2-D and batched (broadcast) operands."""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.autograd import Primitive, register, unbroadcast
from propagate.nn.ops.arithmetic import match_float_dtype


@register
class MatMul(Primitive):
    name = "matmul"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(
                f"matmul needs operands with at least 1 dimension, got shapes {a.shape} and "
                f"{b.shape}; use * to multiply by a scalar"
            )
        try:
            return np.matmul(a, b), (a, b)
        except ValueError:
            raise ShapeError(
                f"matmul operands do not fit: shapes {a.shape} and {b.shape} (the last axis "
                f"of the first must equal the second-to-last axis of the second)"
            ) from None

    @staticmethod
    def vjp(g, ctx, needs):
        a, b = ctx

        # Treat a 1-D operand as a row (left) or column (right) matrix, as np.matmul does,
        # and give the adjoint the matching length-1 axis back.
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., np.newaxis]
        if a.ndim == 1:
            g2 = g2[..., np.newaxis, :]

        grad_a = grad_b = None
        if needs[0]:
            grad_a = np.matmul(g2, np.swapaxes(b2, -1, -2))
            grad_a = unbroadcast(grad_a, a2.shape, a.dtype).reshape(a.shape)
        if needs[1]:
            grad_b = np.matmul(np.swapaxes(a2, -1, -2), g2)
            grad_b = unbroadcast(grad_b, b2.shape, b.dtype).reshape(b.shape)
        return grad_a, grad_b
