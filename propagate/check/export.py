"""Export of an engine model with its weights and a batch of data to a symbolic Graph.

Every parameter entry becomes one graph input (``0.weight[2,1]`` becomes ``p_0_weight_2_1``).
Every unit of every layer output becomes one scalar node per sample, whose expression uses
its direct parents only. So the graph stays lean: a Linear unit is ``Σ_j W_ij a_j + b_i`` and
an activation unit is ``f(z_i)``. Data enter as exact numbers (the binary value of each float)
or, on request, as symbols ``x_{n}_{j}`` for the input Jacobian.

The loss is written as the engine defines it, with "mean" reduction:

- ``"mse"``: ``Σ (p - y)² / (N·K)`` over every output entry (no factor 1/2);
- ``"bce"``: ``Σ (softplus(z) - z·y) / (N·K)``, binary cross-entropy with logits;
- ``"cross-entropy"``: ``Σ_n (logsumexp(z_n) - z_n[t_n]) / N`` for class indices, or
  ``Σ_n Σ_k y_nk (logsumexp(z_n) - z_nk) / N`` for probability targets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy

from propagate import nn
from propagate.check.names import EntryName, symbol_name
from propagate.errors import DataError, ShapeError
from propagate.symbolic import functions as fn
from propagate.symbolic.graph import Graph

logger = logging.getLogger(__name__)

LOSSES = ("mse", "bce", "cross-entropy")

# A layer value: one list of sympy expressions (node symbols or numbers) per sample.
Rows = list[list[sympy.Expr]]

SUPPORTED = (
    "Sequential",
    "Residual",
    "Linear",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "Softplus",
    "GELU",
    "LayerNorm",
    "Identity",
    "Dropout (evaluation mode or p=0)",
)


@dataclass
class ExportedModel:
    """A model exported to a Graph, with the maps between graph names and engine tensors.

    Attributes
    ----------
    graph : Graph
        Inputs are the parameter entries and, when exported as symbols, the data. Nodes are
        the layer units per sample and, with a loss, the per-sample losses and ``L``.
    values : dict of str to float
        Value of every graph input: the parameter entries and the data symbols.
    entries : dict of str to EntryName
        Parameter symbol name to the engine tensor name and index it stands for.
    parameter_symbols : dict of str to numpy.ndarray
        Engine tensor name to an array of symbol names with the tensor's shape.
    parameter_values : dict of str to numpy.ndarray
        Engine tensor name to its values in float64.
    layers : dict of str to numpy.ndarray
        Module path to the node names of its output, shape (batch, units). The whole model's
        output is under ``"output"``.
    data_symbols : numpy.ndarray or None
        Input symbol names of shape (batch, features) when the data are symbols.
    loss : str or None
        Name of the loss node (``"L"``), or None when exported without a loss.
    """

    graph: Graph
    values: dict[str, float]
    entries: dict[str, EntryName]
    parameter_symbols: dict[str, np.ndarray]
    parameter_values: dict[str, np.ndarray]
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    data_symbols: np.ndarray | None = None
    loss: str | None = None

    @property
    def output(self) -> np.ndarray:
        """Node names of the model output, shape (batch, outputs)."""
        return self.layers["output"]


def export_model(
    model: nn.Module,
    x,
    y=None,
    loss: str | None = None,
    data: str = "numbers",
) -> ExportedModel:
    """Export ``model`` with its current weights and the batch ``x`` to a Graph.

    Parameters
    ----------
    model : propagate.nn.Module
        Built from the modules listed in ``SUPPORTED``.
    x : array_like of shape (batch, features)
    y : array_like, optional
        Targets: shape (batch, outputs) for ``mse`` and ``bce``; integer class indices of
        shape (batch,) or probabilities of shape (batch, classes) for ``cross-entropy``.
    loss : {"mse", "bce", "cross-entropy"}, optional
        Without a loss the graph ends at the model output.
    data : {"numbers", "symbols"}
        Whether ``x`` enters as exact numbers or as symbols ``x_{n}_{j}`` (whose values are
        then in :attr:`ExportedModel.values`).

    Returns
    -------
    ExportedModel

    Raises
    ------
    NotImplementedError
        If the model contains a module that cannot be exported; the message names it.
    ShapeError
        If ``x`` or ``y`` do not have the shapes above.
    """
    if data not in ("numbers", "symbols"):
        raise ValueError(f"data must be 'numbers' or 'symbols', got {data!r}")
    if loss is not None and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if loss is not None and y is None:
        raise DataError(f"the loss {loss!r} needs targets y; pass y or loss=None")
    x = _as_batch(x)

    exporter = _Exporter()
    exporter.add_parameters(model)
    rows = exporter.add_data(x, symbolic=data == "symbols")
    output = exporter.module(model, rows, "")
    exporter.layers["output"] = _names(output)

    exported = ExportedModel(
        graph=exporter.graph,
        values=exporter.values,
        entries=exporter.entries,
        parameter_symbols=exporter.parameter_symbols,
        parameter_values=exporter.parameter_values,
        layers=exporter.layers,
        data_symbols=exporter.data_symbols,
    )
    if loss is not None:
        exported.loss = exporter.add_loss(output, y, loss)
    logger.debug(
        "exported %s: %d inputs, %d nodes",
        type(model).__name__,
        len(exporter.graph.inputs),
        len(exporter.graph.nodes),
    )
    return exported


def _as_batch(x) -> np.ndarray:
    x = np.asarray(getattr(x, "data", x), dtype=np.float64)
    if x.ndim != 2:
        raise ShapeError(
            f"export needs inputs of shape (batch, features), got shape {x.shape}; "
            "reshape a single sample to (1, features)"
        )
    if not np.all(np.isfinite(x)):
        raise DataError("inputs contain NaN or infinity; export needs finite data")
    return x


def exact(value: float) -> sympy.Expr:
    """Return a float as the exact rational number of its binary value."""
    return sympy.Rational(float(value))


def _names(rows: Rows) -> np.ndarray:
    """Return the node names of a layer value, or the text of a number that is no node."""
    return np.array([[str(item) for item in row] for row in rows], dtype=object)


class _Exporter:
    """State of one export: the graph, the value of each input and the name maps."""

    def __init__(self):
        self.graph = Graph()
        self.values: dict[str, float] = {}
        self.entries: dict[str, EntryName] = {}
        self.parameter_symbols: dict[str, np.ndarray] = {}
        self.parameter_values: dict[str, np.ndarray] = {}
        self.layers: dict[str, np.ndarray] = {}
        self.data_symbols: np.ndarray | None = None
        self.symbols: dict[int, np.ndarray] = {}  # id(parameter) to its array of Symbols

    def add_parameters(self, model: nn.Module) -> None:
        for tensor, parameter in model.named_parameters():
            values = np.asarray(parameter.data, dtype=np.float64)
            names = np.empty(values.shape, dtype=object)
            symbols = np.empty(values.shape, dtype=object)
            for index in np.ndindex(values.shape):
                name = symbol_name("p", tensor, index, self.values)
                symbols[index] = self.graph.add_input(name)
                names[index] = name
                self.values[name] = float(values[index])
                self.entries[name] = EntryName(tensor, tuple(int(i) for i in index))
            self.parameter_symbols[tensor] = names
            self.parameter_values[tensor] = values.copy()
            self.symbols[id(parameter)] = symbols

    def add_data(self, x: np.ndarray, symbolic: bool) -> Rows:
        if not symbolic:
            return [[exact(value) for value in sample] for sample in x]
        names = np.empty(x.shape, dtype=object)
        rows = []
        for n, sample in enumerate(x):
            row = []
            for j, value in enumerate(sample):
                name = symbol_name("x", str(n), (j,), self.values)
                row.append(self.graph.add_input(name))
                names[n, j] = name
                self.values[name] = float(value)
            rows.append(row)
        self.data_symbols = names
        return rows

    def node(self, name: str, expr: sympy.Expr) -> sympy.Expr:
        """Add a node unless ``expr`` is a number (which stays a number), and return it."""
        if expr.is_number:
            return expr
        unique = name
        counter = 1
        while unique in self.graph:
            unique = f"{name}_{counter}"
            counter += 1
        return self.graph.add_node(unique, expr)

    def layer(self, path: str, rows: list[list[sympy.Expr]], kind: str) -> Rows:
        """Add one node per unit and sample, named ``{kind}_{path}_{unit}_s{sample}``."""
        stem = symbol_name(kind, path or "model", (), {})
        result = [
            [self.node(f"{stem}_{i}_s{n}", expr) for i, expr in enumerate(row)]
            for n, row in enumerate(rows)
        ]
        self.layers[path] = _names(result)
        return result

    def parameter(self, tensor) -> np.ndarray:
        return self.symbols[id(tensor)]

    # Modules.

    def module(self, module: nn.Module, rows: Rows, path: str) -> Rows:
        handler = _HANDLERS.get(type(module))
        if handler is None:
            raise NotImplementedError(
                f"cannot export module {type(module).__name__} at '{path or 'the top level'}'; "
                f"supported modules: {', '.join(SUPPORTED)}"
            )
        return handler(self, module, rows, path)

    def sequential(self, module: nn.Sequential, rows: Rows, path: str) -> Rows:
        for name, child in module.named_children():
            rows = self.module(child, rows, f"{path}.{name}" if path else name)
        return rows

    def residual(self, module: nn.Residual, rows: Rows, path: str) -> Rows:
        inner = self.module(module.module, rows, f"{path}.module" if path else "module")
        if len(inner[0]) != len(rows[0]):
            raise ShapeError(
                f"Residual at '{path}' maps {len(rows[0])} features to {len(inner[0])}; "
                "its module must keep the shape"
            )
        summed = [
            [a + b for a, b in zip(r, s, strict=True)] for r, s in zip(rows, inner, strict=True)
        ]
        return self.layer(path, summed, "r")

    def linear(self, module: nn.Linear, rows: Rows, path: str) -> Rows:
        weight = self.parameter(module.weight)
        bias = None if module.bias is None else self.parameter(module.bias)
        if len(rows[0]) != weight.shape[1]:
            raise ShapeError(
                f"Linear at '{path}' expects {weight.shape[1]} features, got {len(rows[0])}"
            )
        pre = []
        for row in rows:
            units = []
            for i in range(weight.shape[0]):
                total = sympy.Add(*[weight[i, j] * a for j, a in enumerate(row)])
                units.append(total + bias[i] if bias is not None else total)
            pre.append(units)
        return self.layer(path, pre, "z")

    def activation(self, function: Callable, rows: Rows, path: str) -> Rows:
        return self.layer(path, [[function(z) for z in row] for row in rows], "a")

    def layer_norm(self, module: nn.LayerNorm, rows: Rows, path: str) -> Rows:
        if len(module.normalized_shape) != 1 or module.normalized_shape[0] != len(rows[0]):
            raise NotImplementedError(
                f"LayerNorm{module.normalized_shape} at '{path}': only normalisation over "
                f"the last axis of inputs of shape (batch, features) can be exported"
            )
        size = len(rows[0])
        eps = exact(module.eps)
        weight = None if module.weight is None else self.parameter(module.weight)
        bias = None if module.bias is None else self.parameter(module.bias)
        stem = symbol_name("ln", path or "model", (), {})
        out = []
        for n, row in enumerate(rows):
            # Biased variance of the centred values, as the engine and PyTorch use.
            mean = self.node(f"{stem}_mean_s{n}", sympy.Add(*row) / size)
            centred = [self.node(f"{stem}_c{i}_s{n}", a - mean) for i, a in enumerate(row)]
            var = self.node(f"{stem}_var_s{n}", sympy.Add(*[c**2 for c in centred]) / size)
            scale = self.node(f"{stem}_rstd_s{n}", 1 / sympy.sqrt(var + eps))
            units = []
            for i, c in enumerate(centred):
                unit = c * scale
                if weight is not None:
                    unit = unit * weight[i] + bias[i]
                units.append(unit)
            out.append(units)
        return self.layer(path, out, "n")

    def dropout(self, module: nn.Dropout, rows: Rows, path: str) -> Rows:
        if module.training and module.p > 0:
            raise NotImplementedError(
                f"Dropout at '{path}' is in training mode with p={module.p}, which is random; "
                "call model.eval() before exporting"
            )
        return rows

    # Losses.

    def add_loss(self, output: Rows, y, loss: str) -> str:
        batch, width = len(output), len(output[0])
        targets = np.asarray(getattr(y, "data", y))
        per_sample = []
        if loss == "cross-entropy" and np.issubdtype(targets.dtype, np.integer):
            if targets.shape != (batch,) or targets.min() < 0 or targets.max() >= width:
                raise ShapeError(
                    f"class-index targets must have shape ({batch},) with values in "
                    f"0..{width - 1}, got shape {targets.shape}"
                )
            for n, row in enumerate(output):
                lse = fn.logsumexp(*row) if width > 1 else row[0]
                per_sample.append(lse - row[int(targets[n])])
            denominator = batch
        else:
            targets = targets.astype(np.float64)
            if targets.shape != (batch, width):
                raise ShapeError(
                    f"{loss} targets must have shape ({batch}, {width}), got {targets.shape}"
                )
            for n, row in enumerate(output):
                t = [exact(value) for value in targets[n]]
                per_sample.append(_sample_loss(loss, row, t))
            denominator = batch if loss == "cross-entropy" else batch * width
        terms = [self.node(f"loss_s{n}", term) for n, term in enumerate(per_sample)]
        self.graph.add_node("L", sympy.Add(*terms) / denominator)
        return "L"


def _sample_loss(loss: str, row: list[sympy.Expr], target: list[sympy.Expr]) -> sympy.Expr:
    if loss == "mse":
        return sympy.Add(*[(p - t) ** 2 for p, t in zip(row, target, strict=True)])
    if loss == "bce":
        return sympy.Add(*[fn.softplus(z) - z * t for z, t in zip(row, target, strict=True)])
    # log-sum-exp minus a logit is -log softmax without forming the softmax.
    lse = fn.logsumexp(*row) if len(row) > 1 else row[0]
    return sympy.Add(*[t * (lse - z) for z, t in zip(row, target, strict=True)])


def _elementwise(function: Callable) -> Callable:
    def handler(exporter: _Exporter, module, rows: Rows, path: str) -> Rows:
        return exporter.activation(function, rows, path)

    return handler


def _leaky(exporter: _Exporter, module: nn.LeakyReLU, rows: Rows, path: str) -> Rows:
    slope = exact(module.negative_slope)
    return exporter.activation(lambda z: fn.leaky_relu(z, slope), rows, path)


def _identity(exporter: _Exporter, module, rows: Rows, path: str) -> Rows:
    return rows


_HANDLERS = {
    nn.Sequential: _Exporter.sequential,
    nn.Residual: _Exporter.residual,
    nn.Linear: _Exporter.linear,
    nn.LayerNorm: _Exporter.layer_norm,
    nn.Dropout: _Exporter.dropout,
    nn.Identity: _identity,
    nn.Sigmoid: _elementwise(fn.sigmoid),
    nn.Tanh: _elementwise(sympy.tanh),
    nn.ReLU: _elementwise(fn.relu),
    nn.Softplus: _elementwise(fn.softplus),
    nn.GELU: _elementwise(fn.gelu),
    nn.LeakyReLU: _leaky,
}
