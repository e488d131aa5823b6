"""Dense neural networks as symbolic graphs, with the layer error terms δ_l = ∂L/∂z_l.

Naming (layers count from 1, units and samples from 0):

- ``W{l}_{i}_{j}``: weight from unit ``j`` of layer ``l-1`` to unit ``i`` of layer ``l``, so
  ``W_l`` has shape (units of layer l, units of layer l-1), as ``torch.nn.Linear.weight``;
- ``b{l}_{i}``: bias of unit ``i`` of layer ``l``;
- ``x{j}`` and ``y{i}``: input and target of a single sample. With a batch of several
  samples, every per-sample name gets the suffix ``_s{n}`` (``x0_s3``, ``z1_2_s3``);
- ``z{l}_{i}`` (pre-activation) and ``a{l}_{i}`` (activation) nodes, and the loss node ``L``.

Losses, averaged over the samples of the batch:

- ``"mse"``: per sample the sum over output units of ``(a - y)**2 / 2``;
- ``"cross-entropy"``: softmax cross-entropy from the logits ``z_L``, written stably as
  ``logsumexp(z_L) - z_L[t]`` for a class index ``t``, or ``Σ_k y_k (logsumexp(z_L) - z_k)``
  for one-hot or probability targets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from propagate.errors import GraphError, ShapeError
from propagate.symbolic import functions as fn
from propagate.symbolic.graph import Graph

logger = logging.getLogger(__name__)

ACTIVATIONS = {
    "sigmoid": fn.sigmoid,
    "tanh": sympy.tanh,
    "relu": fn.relu,
    "leaky_relu": fn.leaky_relu,
    "softplus": fn.softplus,
    "gelu": fn.gelu,
    "identity": lambda z: z,
}

LOSSES = ("mse", "cross-entropy")


@dataclass
class DenseNetwork:
    """A dense network's graph, its parameter symbols and its layer error terms.

    Attributes
    ----------
    graph : Graph
        Inputs are the weights, biases, data inputs and targets that are symbols; nodes are
        ``z{l}_{i}``, ``a{l}_{i}`` (with ``_s{n}`` per sample for a batch) and ``L``.
    weights, biases : list of sympy.Matrix
        ``weights[l-1]`` is ``W_l`` (n_l × n_{l-1}) and ``biases[l-1]`` is ``b_l`` (n_l × 1).
    z, a : list of sympy.Matrix
        Node symbols of layer ``l`` at index ``l-1``, shape (n_l × batch), column ``n`` for
        sample ``n``.
    deltas : list of sympy.Matrix
        ``deltas[l-1]`` is δ_l = ∂L/∂z_l (n_l × batch) in node symbols.
    activations : list of str
        Activation name per layer.
    loss : str
        ``"mse"`` or ``"cross-entropy"``.
    """

    graph: Graph
    weights: list[sympy.Matrix]
    biases: list[sympy.Matrix]
    z: list[sympy.Matrix]
    a: list[sympy.Matrix]
    deltas: list[sympy.Matrix]
    activations: list[str]
    loss: str

    @property
    def parameters(self) -> list[str]:
        """Names of all weights and biases, layer by layer (weights row by row, then biases)."""
        names = []
        for weight, bias in zip(self.weights, self.biases, strict=True):
            names += [symbol.name for symbol in weight]
            names += [symbol.name for symbol in bias]
        return names


def dense_network(
    sizes: Sequence[int],
    activations: Sequence[str],
    loss: str = "mse",
    inputs=None,
    targets=None,
    batch: int | None = None,
) -> DenseNetwork:
    """Build a dense network as a Graph and derive the error term δ_l of every layer.

    Parameters
    ----------
    sizes : list of int
        Units per layer, input layer first, e.g. ``[2, 3, 1]``.
    activations : list of str
        One per layer after the input: ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``,
        ``softplus``, ``gelu`` or ``identity``. With ``cross-entropy`` the last one may also be
        ``softmax``: its nodes are then the probabilities, and the loss uses the logits
        either way.
    loss : {"mse", "cross-entropy"}
    inputs : array-like, optional
        Numbers of shape (n_0,) for one sample or (batch, n_0). Default: symbols.
    targets : array-like, optional
        For ``mse`` and one-hot ``cross-entropy``: numbers of shape (n_L,) or (batch, n_L).
        For ``cross-entropy`` also integer class indices of shape () or (batch,).
        Default: symbols ``y{i}`` (one-hot or probability targets for cross-entropy).
    batch : int, optional
        Number of samples when both ``inputs`` and ``targets`` are symbols (default 1).

    Returns
    -------
    DenseNetwork

    Raises
    ------
    GraphError
        On an unknown activation or loss, or an invalid size.
    ShapeError
        If ``inputs`` or ``targets`` do not fit ``sizes``.
    """
    sizes = [int(size) for size in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise GraphError(f"sizes must list at least 2 layers of at least 1 unit, got {sizes}")
    activations = list(activations)
    if len(activations) != len(sizes) - 1:
        raise GraphError(
            f"expected {len(sizes) - 1} activations for sizes {sizes}, got {len(activations)}"
        )
    if loss not in LOSSES:
        raise GraphError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    _check_activations(activations, loss, sizes)

    x_values, batch = _input_values(inputs, sizes[0], batch)
    target_kind, y_values, batch = _target_values(targets, sizes[-1], loss, batch)
    if x_values is not None and x_values.shape[0] != batch:
        raise ShapeError(f"inputs have {x_values.shape[0]} samples but targets have {batch}")
    suffix = (lambda n: "") if batch == 1 else (lambda n: f"_s{n}")

    graph = Graph()
    weights, biases = [], []
    for layer in range(1, len(sizes)):
        rows, cols = sizes[layer], sizes[layer - 1]
        names = [f"W{layer}_{i}_{j}" for i in range(rows) for j in range(cols)]
        weights.append(sympy.Matrix(rows, cols, graph.add_inputs(names)))
        biases.append(
            sympy.Matrix(rows, 1, graph.add_inputs([f"b{layer}_{i}" for i in range(rows)]))
        )

    x = _data_matrix(graph, x_values, "x", sizes[0], batch, suffix)
    y = (
        None
        if target_kind == "index"
        else _data_matrix(graph, y_values, "y", sizes[-1], batch, suffix)
    )

    # Forward pass: z_l = W_l a_{l-1} + b_l and a_l = f(z_l), one node per unit and sample.
    z_nodes, a_nodes = [], []
    previous = x
    for layer in range(1, len(sizes)):
        z_layer = sympy.zeros(sizes[layer], batch)
        a_layer = sympy.zeros(sizes[layer], batch)
        for n in range(batch):
            pre = weights[layer - 1] * previous[:, n] + biases[layer - 1]
            for i in range(sizes[layer]):
                z_layer[i, n] = graph.add_node(f"z{layer}_{i}{suffix(n)}", pre[i])
            post = _activate(activations[layer - 1], z_layer[:, n])
            for i in range(sizes[layer]):
                a_layer[i, n] = graph.add_node(f"a{layer}_{i}{suffix(n)}", post[i])
        z_nodes.append(z_layer)
        a_nodes.append(a_layer)
        previous = a_layer

    total = sympy.S.Zero
    for n in range(batch):
        if loss == "mse":
            total += sum(
                ((a_nodes[-1][i, n] - y[i, n]) ** 2 / 2 for i in range(sizes[-1])), sympy.S.Zero
            )
        else:
            total += _cross_entropy(z_nodes[-1][:, n], target_kind, y, y_values, n)
    graph.add_node("L", total / batch)

    adjoint = graph.adjoints("L")
    deltas = [layer.applyfunc(lambda symbol: adjoint[symbol.name]) for layer in z_nodes]
    logger.debug("built dense network %s with %d nodes", sizes, len(graph.nodes))
    return DenseNetwork(graph, weights, biases, z_nodes, a_nodes, deltas, activations, loss)


def activation_derivative(name: str, z: sympy.Expr) -> sympy.Expr:
    """Return f'(z) of the elementwise activation ``name`` (not ``softmax``)."""
    if name not in ACTIVATIONS:
        raise GraphError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    dummy = sympy.Dummy("t", real=True)
    return sympy.diff(ACTIVATIONS[name](dummy), dummy).xreplace({dummy: z})


def _check_activations(activations: list[str], loss: str, sizes: list[int]) -> None:
    for index, name in enumerate(activations):
        is_last = index == len(activations) - 1
        if name == "softmax" and is_last and loss == "cross-entropy":
            continue
        if name not in ACTIVATIONS:
            allowed = ", ".join(ACTIVATIONS)
            hint = " (softmax only as the last activation with cross-entropy)"
            raise GraphError(
                f"unknown activation {name!r} in layer {index + 1}; choose {allowed}{hint}"
            )
    if loss == "cross-entropy" and sizes[-1] < 2:
        raise GraphError("cross-entropy needs at least 2 output units (classes)")


def _activate(name: str, z: sympy.Matrix) -> list[sympy.Expr]:
    if name == "softmax":
        lse = fn.logsumexp(*z)
        return [sympy.exp(value - lse) for value in z]
    return [ACTIVATIONS[name](value) for value in z]


def _cross_entropy(logits: sympy.Matrix, kind: str, y, y_values, n: int) -> sympy.Expr:
    # log-sum-exp minus the target logit is -log softmax, without forming the softmax.
    lse = fn.logsumexp(*logits)
    if kind == "index":
        return lse - logits[int(y_values[n])]
    return sum((y[k, n] * (lse - logits[k]) for k in range(len(logits))), sympy.S.Zero)


def _exact(value) -> sympy.Expr:
    """Return a number as an exact sympy number (a float keeps its exact binary value)."""
    if isinstance(value, int | np.integer):
        return sympy.Integer(int(value))
    return sympy.Rational(float(value))


def _input_values(inputs, width: int, batch: int | None):
    if inputs is None:
        return None, batch or 1
    values = np.asarray(inputs, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != width:
        raise ShapeError(
            f"inputs must have shape ({width},) or (batch, {width}), got {np.shape(inputs)}"
        )
    if batch is not None and batch != values.shape[0]:
        raise ShapeError(f"batch={batch} but inputs has {values.shape[0]} samples")
    return values, values.shape[0]


def _target_values(targets, width: int, loss: str, batch: int):
    if targets is None:
        return "symbols", None, batch
    values = np.asarray(targets)
    if loss == "cross-entropy" and np.issubdtype(values.dtype, np.integer) and values.ndim <= 1:
        values = values.reshape(-1)
        if values.min() < 0 or values.max() >= width:
            raise ShapeError(f"class indices must be in 0..{width - 1}, got {values.tolist()}")
        kind = "index"
    else:
        values = values.astype(np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2 or values.shape[1] != width:
            raise ShapeError(
                f"targets must have shape ({width},) or (batch, {width}), got {np.shape(targets)}"
            )
        kind = "values"
    if values.shape[0] != batch:
        if batch != 1 or values.shape[0] < 1:
            raise ShapeError(f"targets have {values.shape[0]} samples but inputs have {batch}")
        batch = values.shape[0]
    return kind, values, batch


def _data_matrix(graph: Graph, values, prefix: str, width: int, batch: int, suffix) -> sympy.Matrix:
    matrix = sympy.zeros(width, batch)
    for n in range(batch):
        for i in range(width):
            if values is None:
                matrix[i, n] = graph.add_input(f"{prefix}{i}{suffix(n)}")
            else:
                matrix[i, n] = _exact(values[n, i])
    return matrix
