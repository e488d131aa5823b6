"""Central finite differences, the independent reference for the engine's gradients."""

from __future__ import annotations

import numpy as np

from propagate import nn


def numeric_gradient(f, arrays, eps: float = 1e-6) -> list[np.ndarray]:
    """Return ∂f/∂array for each array by central differences (f returns a float)."""
    arrays = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
    grads = []
    for a in arrays:
        grad = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            original = a[index]
            a[index] = original + eps
            f_plus = f(*arrays)
            a[index] = original - eps
            f_minus = f(*arrays)
            a[index] = original
            grad[index] = (f_plus - f_minus) / (2 * eps)
        grads.append(grad)
    return grads


def engine_and_numeric(build, *arrays, seed: int = 0):
    """Return (engine gradients, finite-difference gradients) of sum(w ⊙ build(*inputs)).

    The random weights w make the adjoint of the output a generic array rather than ones.
    """
    with nn.no_grad():
        shape = build(*[nn.Tensor(a) for a in arrays]).shape
    weights = np.random.default_rng(seed).normal(size=shape)

    tensors = [nn.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    (build(*tensors) * weights).sum().backward()
    # An input that the output does not depend on keeps grad None, as in PyTorch.
    analytic = [np.zeros_like(t.data) if t.grad is None else t.grad for t in tensors]

    def scalar(*values):
        with nn.no_grad():
            return float(np.sum(build(*[nn.Tensor(v) for v in values]).data * weights))

    return analytic, numeric_gradient(scalar, arrays)


def assert_gradients_match(build, *arrays, rtol: float = 1e-6, atol: float = 1e-8, seed=0):
    analytic, numeric = engine_and_numeric(build, *arrays, seed=seed)
    for index, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol, err_msg=f"input {index}")
