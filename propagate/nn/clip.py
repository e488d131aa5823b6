"""Gradient clipping: by total norm (clip_grad_norm_) and by value (clip_grad_value_)."""

from __future__ import annotations

import math

import numpy as np

from propagate.errors import NonFiniteError
from propagate.nn.tensor import Tensor


def _with_grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def total_grad_norm(parameters, norm_type: float = 2.0) -> float:
    """Return the norm of all gradients taken together as one vector (in float64)."""
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(
            f"norm_type must be a positive number or inf, got {norm_type}; use 2.0 for the "
            f"Euclidean norm"
        )
    grads = [p.grad.astype(np.float64, copy=False) for p in _with_grads(parameters)]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        return float(max(np.max(np.abs(g)) if g.size else 0.0 for g in grads))
    total = sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads)
    return total ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so that their total norm is at most ``max_norm``.

    Returns the total norm before clipping. The scale factor is
    max_norm / (total + 1e-6), applied only when it is below 1, as in PyTorch.

    Raises
    ------
    NonFiniteError
        If ``error_if_nonfinite`` and the total norm is NaN or infinite.
    """
    params = _with_grads(parameters)
    total = total_grad_norm(params, norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise NonFiniteError(
                f"total gradient norm is {total}; the loss or a gradient is NaN or infinite. "
                f"Lower the learning rate, or use nn.detect_anomaly() to find the operation"
            )
    coefficient = float(max_norm) / (total + 1e-6)
    if coefficient < 1.0 or math.isnan(coefficient):
        for p in params:
            p.grad *= coefficient
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every gradient entry in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_value must be non-negative, got {clip_value}")
    for p in _with_grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
