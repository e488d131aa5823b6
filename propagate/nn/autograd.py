"""Reverse-mode machinery: the primitive registry, gradient mode and the backward sweep.

Every differentiable operation is a :class:`Primitive` with its forward computation and its
vector-Jacobian product (VJP) side by side. :data:`PRIMITIVES` maps each primitive's name to
its class. Primitives work on plain NumPy arrays only. :mod:`propagate.nn.tensor` wraps them
into graph nodes, and :func:`run_backward` walks that graph once in reverse topological order.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import numpy as np

from propagate.errors import GradientError, NonFiniteError, ShapeError

logger = logging.getLogger(__name__)

PRIMITIVES: dict[str, type[Primitive]] = {}


class Primitive:
    """One differentiable operation: a forward map and its vector-Jacobian product.

    ``forward(*arrays, **params)`` returns ``(output, ctx)``, where ``ctx`` is whatever the
    VJP needs later. ``vjp(g, ctx, needs)`` receives the adjoint ``g`` of the output and
    returns one gradient per input (``None`` where ``needs[i]`` is false), each with the
    shape and dtype of that input.
    """

    name = ""

    @staticmethod
    def forward(*arrays, **params):
        raise NotImplementedError

    @staticmethod
    def vjp(g, ctx, needs):
        raise NotImplementedError


def register(cls: type[Primitive]) -> type[Primitive]:
    """Add a primitive class to :data:`PRIMITIVES` under its ``name``."""
    if not cls.name or cls.name in PRIMITIVES:
        raise GradientError(f"primitive name {cls.name!r} is empty or already registered")
    PRIMITIVES[cls.name] = cls
    return cls


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``.

    This is the only place where broadcast gradients are reduced. The result is cast to
    ``dtype`` so that an input keeps its own precision when NumPy promoted the output.
    """
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.astype(dtype, copy=False)


# Gradient mode and anomaly detection are per thread, like PyTorch's.
_state = threading.local()
_DEFAULTS = {"grad_enabled": True, "anomaly": False}


def is_grad_enabled() -> bool:
    """Return whether new operations record the graph for backward."""
    return getattr(_state, "grad_enabled", _DEFAULTS["grad_enabled"])


def is_anomaly_enabled() -> bool:
    """Return whether backward checks every gradient for NaN and infinity."""
    return getattr(_state, "anomaly", _DEFAULTS["anomaly"])


class _ModeSwitch(contextlib.ContextDecorator):
    """Set one per-thread flag on entry and restore its previous value on exit.

    The previous values form a stack, so one instance can be entered again while it is
    active. As a decorator every call gets a fresh instance, so a recursive decorated
    function, or one called from several threads, restores the flag correctly.
    """

    flag = ""
    value = False

    def __init__(self):
        self._previous: list[bool] = []

    def _recreate_cm(self):
        # ContextDecorator calls this hook before each call of a decorated function.
        return type(self)()

    def __enter__(self):
        self._previous.append(getattr(_state, self.flag, _DEFAULTS[self.flag]))
        setattr(_state, self.flag, self.value)
        return self

    def __exit__(self, *exc_info):
        setattr(_state, self.flag, self._previous.pop())
        return False


class no_grad(_ModeSwitch):
    """Context manager (and decorator) in which operations record no graph."""

    flag = "grad_enabled"
    value = False


class enable_grad(_ModeSwitch):
    """Context manager (and decorator) that turns graph recording back on inside ``no_grad``."""

    flag = "grad_enabled"
    value = True


class detect_anomaly(_ModeSwitch):
    """Context manager in which backward raises at the first NaN or infinite gradient.

    The :class:`~propagate.errors.NonFiniteError` names the operation whose VJP (or the
    tensor hook) produced the first non-finite value, with the shapes involved. Checking
    every gradient costs one pass over each array, so use it for debugging only.
    """

    flag = "anomaly"
    value = True


def _topological_order(root) -> list:
    """Return the nodes that need a gradient, each after all of its parents.

    The depth-first search keeps its own stack, so a graph as deep as a long RNN unroll
    does not reach Python's recursion limit.
    """
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _check_gradient(grad, tensor, where: str) -> np.ndarray:
    """Check that ``grad`` fits ``tensor`` in shape and dtype, raising with both if not."""
    if not isinstance(grad, np.ndarray):
        grad = np.asarray(grad)
    if grad.shape != tensor.data.shape:
        raise ShapeError(
            f"{where} returned a gradient of shape {grad.shape} for a tensor of shape "
            f"{tensor.data.shape}"
        )
    if grad.dtype != tensor.data.dtype:
        raise GradientError(
            f"{where} returned a gradient of dtype {grad.dtype} for a tensor of dtype "
            f"{tensor.data.dtype}"
        )
    return grad


def _check_finite(grad: np.ndarray, where: str, tensor) -> None:
    if not np.all(np.isfinite(grad)):
        raise NonFiniteError(
            f"{where} produced a non-finite gradient for a tensor of shape {tensor.data.shape} "
            f"(first NaN or infinity in backward); check the inputs of this operation"
        )


def _apply_hooks(node, grad: np.ndarray) -> np.ndarray:
    for hook in list(node._hooks.values()):
        result = hook(grad)
        if result is not None:
            result = getattr(result, "data", result)
            grad = _check_gradient(result, node, f"hook {getattr(hook, '__name__', hook)!r}")
    return grad


def _accumulate(store: dict, key: int, grad: np.ndarray) -> None:
    # A node used by several children receives the sum of their contributions (the
    # multivariate chain rule), so adjoints add up rather than overwrite.
    if key in store:
        store[key] = store[key] + grad
    else:
        store[key] = grad


def run_backward(root, grad: np.ndarray) -> None:
    """Propagate the adjoint ``grad`` of ``root`` back to every tensor that needs a gradient.

    Leaves that require a gradient, and non-leaf tensors that called ``retain_grad()``,
    add the result to their ``.grad``. Intermediate adjoints live only for this call, so a
    second call on the same graph adds exactly the same amount again.
    """
    anomaly = is_anomaly_enabled()
    order = _topological_order(root)
    adjoints = {id(root): grad}

    for node in reversed(order):
        g = adjoints.pop(id(node), None)
        if g is None:
            continue
        if node._hooks:
            g = _apply_hooks(node, g)
            if anomaly:
                _check_finite(g, "a tensor hook", node)

        if node._prim is None or node._retains_grad:
            if node.grad is None:
                node.grad = np.array(g, copy=True)
            else:
                node.grad += g
        if node._prim is None:
            continue

        where = f"backward of {node._prim.name!r}"
        if node._origin:
            where += f" (recorded at {node._origin})"
        needs = tuple(parent.requires_grad for parent in node._parents)
        parent_grads = node._prim.vjp(g, node._ctx, needs)
        for parent, parent_grad, need in zip(node._parents, parent_grads, needs, strict=True):
            if not need:
                continue
            parent_grad = _check_gradient(parent_grad, parent, where)
            if anomaly:
                _check_finite(parent_grad, where, parent)
            _accumulate(adjoints, id(parent), parent_grad)
