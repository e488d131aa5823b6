"""Optimizers with PyTorch's update rules: SGD (momentum, Nesterov), Adam, AdamW, RMSprop.

Each optimizer has one learning rate ``lr`` (a float attribute that schedules change)
and updates the parameters' ``data`` in place from their ``grad``. Parameters whose grad is
None are skipped. All arithmetic stays in each parameter's dtype.
"""

from __future__ import annotations

import math

import numpy as np

from propagate.errors import DataError, ShapeError
from propagate.nn.schedules import CosineAnnealingLR, LRScheduler, StepLR
from propagate.nn.tensor import Tensor

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "LRScheduler",
    "Optimizer",
    "RMSprop",
    "StepLR",
]


def _check_nonnegative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0.0:
        raise ValueError(f"{name} must be a non-negative number, got {value}")
    return value


class Optimizer:
    """Base class: parameter list, learning rate, per-parameter state and (de)serialisation.

    Subclasses list their hyperparameter attribute names in ``hyperparameters`` and
    implement ``_update(param, grad, state)``.
    """

    hyperparameters: tuple[str, ...] = ()

    def __init__(self, params, lr: float):
        if isinstance(params, Tensor):
            raise TypeError(
                "optimizer params must be an iterable of tensors, e.g. model.parameters(), "
                "not a single Tensor"
            )
        unique = []
        seen = set()
        for index, param in enumerate(params):
            if not isinstance(param, Tensor) or not param.requires_grad:
                raise TypeError(
                    f"optimizer parameter {index} is not a Tensor that requires a gradient"
                )
            if id(param) not in seen:
                seen.add(id(param))
                unique.append(param)
        if not unique:
            raise ValueError("optimizer got an empty parameter list")
        self.params: list[Tensor] = unique
        self.lr = _check_nonnegative("lr", lr)
        self.state: list[dict] = [{} for _ in unique]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (to None by default, as PyTorch 2 does)."""
        for param in self.params:
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def step(self) -> None:
        """Update every parameter that has a gradient by one step."""
        for param, state in zip(self.params, self.state, strict=True):
            if param.grad is None:
                continue
            self._update(param, param.grad, state)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Return the learning rate, hyperparameters and copies of the per-parameter state."""
        return {
            "type": type(self).__name__,
            "lr": self.lr,
            "hyperparameters": {name: getattr(self, name) for name in self.hyperparameters},
            "state": [
                {key: (np.array(value, copy=True) if isinstance(value, np.ndarray) else value)
                 for key, value in state.items()}
                for state in self.state
            ],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by ``state_dict()`` of the same optimizer type and model."""
        kind = state_dict.get("type")
        if kind != type(self).__name__:
            raise DataError(
                f"optimizer state is for {kind!r}, not {type(self).__name__!r}; "
                f"create the same optimizer type before loading"
            )
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise DataError(
                f"optimizer state has {len(states)} parameters, this optimizer has "
                f"{len(self.params)}; load a state saved for the same model"
            )
        for index, (param, state) in enumerate(zip(self.params, states, strict=True)):
            for key, value in state.items():
                if isinstance(value, np.ndarray) and value.shape != param.shape:
                    raise ShapeError(
                        f"optimizer state {key!r} of parameter {index} has shape {value.shape}, "
                        f"the parameter has shape {param.shape}"
                    )
        self.lr = float(state_dict["lr"])
        for name, value in state_dict.get("hyperparameters", {}).items():
            setattr(self, name, value)
        self.state = [
            {key: (np.asarray(value).astype(param.dtype) if isinstance(value, np.ndarray)
                   else value)
             for key, value in state.items()}
            for param, state in zip(self.params, states, strict=True)
        ]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    With g = grad + weight_decay·p, the momentum buffer is b ← g on the first step and
    b ← momentum·b + (1 - dampening)·g after; the step uses b, or g + momentum·b with
    Nesterov, and p ← p - lr·step (PyTorch's formulation).
    """

    hyperparameters = ("momentum", "dampening", "nesterov", "weight_decay")

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = _check_nonnegative("momentum", momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if self.momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = np.array(grad, copy=True)
            else:
                buffer *= self.momentum
                buffer += (1 - self.dampening) * grad
            state["momentum_buffer"] = buffer
            grad = grad + self.momentum * buffer if self.nesterov else buffer
        param.data -= self.lr * grad


class Adam(Optimizer):
    """Adam with bias correction (Kingma and Ba, 2015), as PyTorch implements it.

    m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², then
    p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + eps). ``weight_decay`` adds weight_decay·p to
    g (L2 regularisation); for decoupled decay use :class:`AdamW`.
    """

    hyperparameters = ("betas", "eps", "weight_decay")

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        beta1, beta2 = (float(b) for b in betas)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas}")
        self.betas = (beta1, beta2)
        self.eps = _check_nonnegative("eps", eps)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)

    def _decay(self, param, grad):
        if self.weight_decay:
            return grad + self.weight_decay * param.data
        return grad

    def _update(self, param, grad, state):
        grad = self._decay(param, grad)
        beta1, beta2 = self.betas
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]
        m = state["exp_avg"]
        v = state["exp_avg_sq"]

        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad

        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + self.eps
        param.data -= (self.lr / bias_correction1) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Before the Adam step, p ← p·(1 - lr·weight_decay); the decay never enters m or v.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, param, grad):
        if self.weight_decay:
            param.data *= 1 - self.lr * self.weight_decay
        return grad


class RMSprop(Optimizer):
    """RMSprop as PyTorch implements it.

    s ← αs + (1-α)g²; with ``centered`` also a ← αa + (1-α)g and s - a² replaces s.
    The step is g / (√s + eps), passed through a momentum buffer when momentum > 0.
    """

    hyperparameters = ("alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, lr)
        self.alpha = _check_nonnegative("alpha", alpha)
        self.eps = _check_nonnegative("eps", eps)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        self.momentum = _check_nonnegative("momentum", momentum)
        self.centered = bool(centered)

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(param.data)
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        square_avg += (1 - self.alpha) * grad * grad

        if self.centered:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param.data))
            grad_avg *= self.alpha
            grad_avg += (1 - self.alpha) * grad
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            avg = np.sqrt(square_avg) + self.eps

        if self.momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(param.data))
            buffer *= self.momentum
            buffer += grad / avg
            param.data -= self.lr * buffer
        else:
            param.data -= self.lr * grad / avg
