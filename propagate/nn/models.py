"""Multilayer perceptrons built from layer sizes and an activation name, with seeded init."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from propagate import nn

# Activation name -> (module class name in propagate.nn, weight initialisation).
# He (Kaiming) init keeps the forward variance of ReLU-like units; Xavier (Glorot) suits
# sigmoid and tanh, which are linear near 0.
ACTIVATIONS = {
    "relu": ("ReLU", "he"),
    "leaky_relu": ("LeakyReLU", "he"),
    "gelu": ("GELU", "he"),
    "softplus": ("Softplus", "he"),
    "tanh": ("Tanh", "xavier"),
    "sigmoid": ("Sigmoid", "xavier"),
}

# Negative slope of nn.LeakyReLU's default, which the He init gain must match.
LEAKY_RELU_SLOPE = 0.01


def parse_layers(text: str) -> tuple[int, ...]:
    """Parse hidden layer sizes such as ``"64,32"``; ``"none"`` means no hidden layer.

    Raises
    ------
    ValueError
        When an entry is not a positive integer.
    """
    cleaned = text.strip()
    if cleaned.lower() == "none":
        return ()
    sizes = []
    for part in cleaned.split(","):
        part = part.strip()
        # isdigit alone would accept non-ASCII digits such as "²", which int() rejects.
        if not (part.isascii() and part.isdigit()) or int(part) < 1:
            raise ValueError(
                f"invalid layer sizes {text!r}: {part!r} is not a positive integer; "
                "give hidden sizes as comma-separated integers such as 64,32 (or 'none')"
            )
        sizes.append(int(part))
    return tuple(sizes)


def _is_positive_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 1


@dataclass(frozen=True)
class MLPSpec:
    """Shape of a multilayer perceptron: enough to rebuild it from a checkpoint.

    Attributes
    ----------
    n_inputs : int
        Number of input features.
    hidden : tuple of int
        Width of each hidden layer, in forward order; empty for a linear model.
    n_outputs : int
        Number of outputs: classes for classification, 1 for regression.
    activation : str
        Name from ``ACTIVATIONS``, applied after every hidden layer (not after the last).
    """

    n_inputs: int
    hidden: tuple[int, ...]
    n_outputs: int
    activation: str = "relu"

    def __post_init__(self):
        if isinstance(self.hidden, str) or not hasattr(self.hidden, "__iter__"):
            raise ValueError(
                f"hidden must be a sequence of layer widths such as (64, 32), got "
                f"{self.hidden!r}; parse text with parse_layers"
            )
        for name in ("n_inputs", "n_outputs"):
            value = getattr(self, name)
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for size in self.hidden:
            if not _is_positive_int(size):
                raise ValueError(f"hidden sizes must be positive integers, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(size) for size in self.hidden))
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every layer width from input to output."""
        return (self.n_inputs, *self.hidden, self.n_outputs)

    def to_dict(self) -> dict:
        """Return the spec as JSON-ready data."""
        return {
            "n_inputs": self.n_inputs,
            "hidden": list(self.hidden),
            "n_outputs": self.n_outputs,
            "activation": self.activation,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MLPSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(
            n_inputs=int(data["n_inputs"]),
            hidden=tuple(data["hidden"]),
            n_outputs=int(data["n_outputs"]),
            activation=str(data["activation"]),
        )

    def build(self, rng: np.random.Generator, dtype=np.float32) -> nn.Sequential:
        """Create the network with freshly initialised weights; see :func:`build_mlp`."""
        return build_mlp(self, rng=rng, dtype=dtype)


def build_mlp(spec: MLPSpec, rng: np.random.Generator | int | None = 0, dtype=np.float32):
    """Build ``Linear -> activation -> ... -> Linear`` as an ``nn.Sequential``.

    Weights use He normal init (std ``gain / sqrt(fan_in)``, gain sqrt(2) for ReLU, GELU and
    softplus, ``sqrt(2 / (1 + 0.01**2))`` for leaky ReLU) and, for sigmoid and tanh, Xavier
    uniform init with gain 1 and 5/3 (``nn.init.calculate_gain``).
    Biases start at 0. The last layer gets the same init as the hidden ones and is not
    followed by an activation (the loss applies softmax or nothing).

    Parameters
    ----------
    spec : MLPSpec
    rng : numpy.random.Generator or int or None
        Source of the initial weights, or a seed for one.
    dtype : float32 or float64
        Dtype of every parameter.

    Returns
    -------
    nn.Sequential
        Modules in forward order, so ``named_parameters()`` lists layer 0 first.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    activation_class, init = ACTIVATIONS[spec.activation]

    modules = []
    sizes = spec.sizes
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        try:
            layer = nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype)
        except MemoryError:
            raise ValueError(
                f"layer {index} ({fan_in} inputs, {fan_out} outputs) needs "
                f"{fan_in * fan_out * dtype.itemsize / 2**30:.1f} GiB of weights and does not "
                "fit in memory; choose smaller layer sizes"
            ) from None
        if init == "he" and spec.activation == "leaky_relu":
            nn.init.kaiming_normal_(
                layer.weight, a=LEAKY_RELU_SLOPE, nonlinearity="leaky_relu", rng=rng
            )
        elif init == "he":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", rng=rng)
        else:
            gain = nn.init.calculate_gain(spec.activation)
            nn.init.xavier_uniform_(layer.weight, gain=gain, rng=rng)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
        modules.append(layer)
        if index < len(sizes) - 2:
            modules.append(getattr(nn, activation_class)())
    return nn.Sequential(*modules)
