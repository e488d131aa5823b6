"""Loss functions: mean squared error, binary cross-entropy with logits, softmax cross-entropy.

Each takes a ``reduction`` of "mean" (default), "sum" or "none", as PyTorch does.
"""

from __future__ import annotations

import numpy as np

from propagate.errors import DataError, ShapeError
from propagate.nn.tensor import Tensor, apply, as_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def _target_like(target, prediction: Tensor, name: str) -> Tensor:
    target = as_tensor(target)
    if target.shape != prediction.shape:
        raise ShapeError(
            f"{name}: target shape {target.shape} differs from input shape {prediction.shape}; "
            f"reshape the target to match"
        )
    # A constant target takes the prediction's dtype, so float64 labels do not turn a
    # float32 loss into float64.
    if not target.requires_grad and target.dtype != prediction.dtype:
        target = Tensor(target.data.astype(prediction.dtype))
    return target


def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Mean squared error (prediction - target)², averaged over every element by default."""
    _check_reduction(reduction)
    prediction = as_tensor(prediction)
    target = _target_like(target, prediction, "mse_loss")
    diff = prediction - target
    return _reduce(diff * diff, reduction)


def bce_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1].

    Computed as softplus(x) - x·y = max(x, 0) - x·y + log1p(e^-|x|), which is finite for
    any finite logit and has the exact gradient sigmoid(x) - y everywhere.
    """
    _check_reduction(reduction)
    logits = as_tensor(logits)
    target = _target_like(target, logits, "bce_with_logits")
    return _reduce(apply("softplus", logits) - logits * target, reduction)


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from logits of shape (batch, classes).

    Parameters
    ----------
    logits : Tensor of shape (N, C)
    target : array_like
        Either integer class indices of shape (N,) with values in [0, C), or class
        probabilities (e.g. one-hot rows) of shape (N, C).
    reduction : {"mean", "sum", "none"}

    Notes
    -----
    The loss is -log_softmax(logits)[target]; log_softmax subtracts each row's maximum
    before exponentiating, so logits of ±1000 give a finite loss and gradient.
    """
    _check_reduction(reduction)
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ShapeError(
            f"cross_entropy expects logits of shape (batch, classes), got shape {logits.shape}"
        )
    n, classes = logits.shape
    log_probs = apply("log_softmax", logits, axis=1)

    if isinstance(target, Tensor) and target.requires_grad:
        # Probability targets that require a gradient (e.g. a teacher's softmax) stay in
        # the graph, so backward reaches them as in PyTorch.
        if target.shape != (n, classes):
            raise ShapeError(
                f"cross_entropy: a target that requires a gradient must hold probabilities "
                f"of shape ({n}, {classes}), got {target.shape}"
            )
        return _reduce(-(log_probs * target).sum(axis=1), reduction)

    target = np.asarray(getattr(target, "data", target))
    if np.issubdtype(target.dtype, np.integer):
        if target.shape != (n,):
            raise ShapeError(
                f"cross_entropy: class-index target must have shape ({n},), got {target.shape}"
            )
        bad = (target < 0) | (target >= classes)
        if np.any(bad):
            raise DataError(
                f"cross_entropy: class index {target[bad][0]} is outside [0, {classes}); "
                f"targets must be integer labels 0..{classes - 1}"
            )
        loss = -log_probs[np.arange(n), target]
    elif np.issubdtype(target.dtype, np.floating):
        if target.shape != (n, classes):
            raise ShapeError(
                f"cross_entropy: probability target must have shape ({n}, {classes}), "
                f"got {target.shape}; pass integer class indices of shape ({n},) instead"
            )
        loss = -(log_probs * target.astype(logits.dtype, copy=False)).sum(axis=1)
    else:
        raise DataError(
            f"cross_entropy: target dtype {target.dtype} is neither integer class indices "
            f"nor floating-point probabilities"
        )
    return _reduce(loss, reduction)
