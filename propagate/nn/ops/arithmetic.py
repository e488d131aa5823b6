"""Elementwise arithmetic primitives: + - * / ** neg exp log sqrt abs.

Binary primitives broadcast like NumPy; their VJPs reduce the broadcast axes with
:func:`~propagate.nn.autograd.unbroadcast`.
"""

from __future__ import annotations

import numpy as np

from propagate.errors import ShapeError
from propagate.nn.autograd import Primitive, register, unbroadcast


def broadcast(name: str, operation, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Apply a NumPy binary ``operation``, turning a broadcasting failure into ShapeError."""
    try:
        return operation(a, b)
    except ValueError:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            pass
        else:
            raise  # a failure other than broadcasting, e.g. an integer to a negative power
        raise ShapeError(
            f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together; each axis "
            f"(aligned from the right) must have equal lengths or length 1"
        ) from None


def match_float_dtype(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cast integer and boolean operands to the dtype of their floating-point partners.

    NumPy turns float32 with int64 into float64. PyTorch keeps the floating dtype, and so do
    the arithmetic primitives, matmul, concatenate and stack, so integer data does not
    upcast a float32 tensor. Floating operands keep their dtypes.
    """
    floating = [a.dtype for a in arrays if np.issubdtype(a.dtype, np.floating)]
    if not floating or len(floating) == len(arrays):
        return arrays
    target = np.result_type(*floating)
    return tuple(a.astype(target) if _is_integral(a) else a for a in arrays)


def _is_integral(array: np.ndarray) -> bool:
    return np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_


@register
class Add(Primitive):
    name = "add"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        return broadcast("add", np.add, a, b), (a.shape, a.dtype, b.shape, b.dtype)

    @staticmethod
    def vjp(g, ctx, needs):
        a_shape, a_dtype, b_shape, b_dtype = ctx
        return (
            unbroadcast(g, a_shape, a_dtype) if needs[0] else None,
            unbroadcast(g, b_shape, b_dtype) if needs[1] else None,
        )


@register
class Sub(Primitive):
    name = "sub"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        return broadcast("sub", np.subtract, a, b), (a.shape, a.dtype, b.shape, b.dtype)

    @staticmethod
    def vjp(g, ctx, needs):
        a_shape, a_dtype, b_shape, b_dtype = ctx
        return (
            unbroadcast(g, a_shape, a_dtype) if needs[0] else None,
            unbroadcast(-g, b_shape, b_dtype) if needs[1] else None,
        )


@register
class Mul(Primitive):
    name = "mul"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        return broadcast("mul", np.multiply, a, b), (a, b)

    @staticmethod
    def vjp(g, ctx, needs):
        a, b = ctx
        return (
            unbroadcast(g * b, a.shape, a.dtype) if needs[0] else None,
            unbroadcast(g * a, b.shape, b.dtype) if needs[1] else None,
        )


@register
class Div(Primitive):
    name = "div"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        return broadcast("div", np.true_divide, a, b), (a, b)

    @staticmethod
    def vjp(g, ctx, needs):
        a, b = ctx
        return (
            unbroadcast(g / b, a.shape, a.dtype) if needs[0] else None,
            unbroadcast(-g * a / (b * b), b.shape, b.dtype) if needs[1] else None,
        )


@register
class Pow(Primitive):
    name = "pow"

    @staticmethod
    def forward(a, b):
        a, b = match_float_dtype(a, b)
        out = broadcast("pow", np.power, a, b)
        return out, (a, b, out)

    @staticmethod
    def vjp(g, ctx, needs):
        a, b, out = ctx
        grad_a = grad_b = None
        if needs[0]:
            # d(a**b)/da = b * a**(b-1), taken as 0 where b = 0 because a**0 is constant in
            # a. Without the mask 0**0 would give 0 * 0**-1 = NaN. PyTorch masks b = 0 too.
            with np.errstate(divide="ignore", invalid="ignore"):
                local = np.where(b == 0, 0, b * a ** (b - 1))
            grad_a = unbroadcast(g * local, a.shape, a.dtype)
        if needs[1]:
            # d(a**b)/db = a**b * log(a). At a = 0, a**b is 0 for every b > 0, so the gradient
            # is 0 there, and PyTorch also takes 0 at b = 0 instead of 0 * (-inf) = NaN. For
            # b < 0 it stays inf * (-inf) = -inf, as in PyTorch.
            with np.errstate(divide="ignore", invalid="ignore"):
                local = np.where((a == 0) & (b >= 0), 0, out * np.log(a))
            grad_b = unbroadcast(g * local, b.shape, b.dtype)
        return grad_a, grad_b


@register
class Neg(Primitive):
    name = "neg"

    @staticmethod
    def forward(a):
        return -a, None

    @staticmethod
    def vjp(g, ctx, needs):
        return (-g,)


@register
class Exp(Primitive):
    name = "exp"

    @staticmethod
    def forward(a):
        out = np.exp(a)
        return out, out

    @staticmethod
    def vjp(g, out, needs):
        return (g * out,)


@register
class Log(Primitive):
    name = "log"

    @staticmethod
    def forward(a):
        return np.log(a), a

    @staticmethod
    def vjp(g, a, needs):
        return (g / a,)


@register
class Sqrt(Primitive):
    name = "sqrt"

    @staticmethod
    def forward(a):
        out = np.sqrt(a)
        return out, out

    @staticmethod
    def vjp(g, out, needs):
        return (g / (2 * out),)


@register
class Abs(Primitive):
    """Absolute value; its derivative at 0 is taken as sign(0) = 0."""

    name = "abs"

    @staticmethod
    def forward(a):
        return np.abs(a), a

    @staticmethod
    def vjp(g, a, needs):
        return (g * np.sign(a),)
