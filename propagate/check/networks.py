"""Small random networks and batches for cross-checks: the models ``propagate check`` builds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from propagate import nn

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


def build_network(
    sizes: Sequence[int],
    activation: str = "tanh",
    layernorm: bool = False,
    residual: bool = False,
    seed: int = 0,
) -> nn.Sequential:
    """Build a float64 network for checking, with PyTorch's default initialisation.

    Each hidden layer of width ``h`` is ``Linear → [LayerNorm] → activation``; with
    ``residual`` it is followed by a block ``Residual(Linear(h, h) → [LayerNorm] →
    activation)``. The last layer is a plain Linear, whose outputs are the logits.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first, e.g. ``(4, 8, 3)``; at least two entries of at least 1.
    activation : str
        One of ``ACTIVATIONS``.
    seed : int
        Seed of the initial weights.

    Raises
    ------
    ValueError
        On invalid sizes or an unknown activation.
    """
    sizes = [int(size) for size in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"layer sizes must list at least 2 layers of at least 1 unit, got {sizes}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    rng = np.random.default_rng(seed)

    def hidden(fan_in: int, width: int) -> list[nn.Module]:
        modules = [nn.Linear(fan_in, width, rng=rng)]
        if layernorm:
            modules.append(nn.LayerNorm(width))
            # Non-trivial scale and shift, so their gradients are not those of 1 and 0.
            modules[-1].weight.data = 1 + 0.3 * rng.standard_normal(width)
            modules[-1].bias.data = 0.3 * rng.standard_normal(width)
        modules.append(ACTIVATIONS[activation]())
        return modules

    modules: list[nn.Module] = []
    for fan_in, width in zip(sizes[:-2], sizes[1:-1], strict=True):
        modules += hidden(fan_in, width)
        if residual:
            modules.append(nn.Residual(nn.Sequential(*hidden(width, width))))
    modules.append(nn.Linear(sizes[-2], sizes[-1], rng=rng))
    return nn.Sequential(*modules)


def random_batch(
    sizes: Sequence[int], loss: str, batch: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return standard normal inputs and targets that suit ``loss``.

    Targets are class indices for ``cross-entropy``, standard normal values for ``mse`` and
    0 or 1 for ``bce``.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    rng = np.random.default_rng([seed, 1])
    x = rng.standard_normal((batch, sizes[0]))
    if loss == "cross-entropy":
        y = rng.integers(0, sizes[-1], batch)
    elif loss == "mse":
        y = rng.standard_normal((batch, sizes[-1]))
    elif loss == "bce":
        y = rng.integers(0, 2, (batch, sizes[-1])).astype(np.float64)
    else:
        raise ValueError(f"unknown loss {loss!r}; choose cross-entropy, mse or bce")
    return x, y
