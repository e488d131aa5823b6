"""Activation primitives: sigmoid, tanh, relu, leaky_relu, softplus, gelu, softmax, log_softmax.

Conventions at kinks: relu'(0) = 0 and leaky_relu'(0) = negative_slope, as PyTorch. GELU is
the exact form x·Φ(x) with Φ the standard normal CDF. Sigmoid, softplus, softmax and
log_softmax never exponentiate a positive number, so they stay finite at ±1000.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from propagate.nn.autograd import Primitive, register


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1/(1+e^-x) computed from e^-|x| <= 1, so it cannot overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def stable_softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for any finite x."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


@register
class Sigmoid(Primitive):
    name = "sigmoid"

    @staticmethod
    def forward(x):
        out = stable_sigmoid(x)
        return out, out

    @staticmethod
    def vjp(g, out, needs):
        return (g * out * (1 - out),)


@register
class Tanh(Primitive):
    name = "tanh"

    @staticmethod
    def forward(x):
        out = np.tanh(x)
        return out, out

    @staticmethod
    def vjp(g, out, needs):
        return (g * (1 - out * out),)


@register
class ReLU(Primitive):
    name = "relu"

    @staticmethod
    def forward(x):
        return np.maximum(x, 0), x

    @staticmethod
    def vjp(g, x, needs):
        return (np.where(x > 0, g, 0).astype(g.dtype, copy=False),)


@register
class LeakyReLU(Primitive):
    name = "leaky_relu"

    @staticmethod
    def forward(x, negative_slope=0.01):
        return np.where(x > 0, x, x * negative_slope), (x, negative_slope)

    @staticmethod
    def vjp(g, ctx, needs):
        x, negative_slope = ctx
        return (np.where(x > 0, g, g * negative_slope).astype(g.dtype, copy=False),)


@register
class Softplus(Primitive):
    name = "softplus"

    @staticmethod
    def forward(x):
        return stable_softplus(x), x

    @staticmethod
    def vjp(g, x, needs):
        return (g * stable_sigmoid(x),)


@register
class GELU(Primitive):
    name = "gelu"

    @staticmethod
    def forward(x):
        cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        return x * cdf, (x, cdf)

    @staticmethod
    def vjp(g, ctx, needs):
        x, cdf = ctx
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return (g * (cdf + x * pdf),)


@register
class Softmax(Primitive):
    name = "softmax"

    @staticmethod
    def forward(x, axis=-1):
        # Subtracting the maximum leaves softmax unchanged and keeps every exponent <= 0.
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        out = e / np.sum(e, axis=axis, keepdims=True)
        return out, (out, axis)

    @staticmethod
    def vjp(g, ctx, needs):
        out, axis = ctx
        # The Jacobian is diag(s) - s sᵀ, so the VJP is s ⊙ (g - <g, s>).
        return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


@register
class LogSoftmax(Primitive):
    name = "log_softmax"

    @staticmethod
    def forward(x, axis=-1):
        # log-sum-exp with the maximum subtracted first, so no exponent is positive.
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
        return out, (out, axis)

    @staticmethod
    def vjp(g, ctx, needs):
        out, axis = ctx
        return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)
