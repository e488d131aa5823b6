"""The measurement model seen by uncertainty propagation: a symbolic Graph with chosen
outputs, compiled to vectorised functions for values, Jacobian and Hessian terms."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import sympy

from propagate.errors import GraphError

# "name = expr" with a plain identifier on the left; "==" is not an assignment.
_ASSIGNMENT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z_0-9]*)\s*=(?!=)\s*(?P<expr>.*)$", re.S)


def as_graph(model):
    """Return ``model`` as a :class:`propagate.symbolic.Graph`.

    ``model`` may be a Graph, a dict name -> expression text, a list of ``"name = expr"``
    texts, or one text. An expression without a name is called ``y`` (``y1``, ``y2``, ...
    when there are several).
    """
    from propagate.symbolic import Graph

    if isinstance(model, Graph):
        return model
    if isinstance(model, str):
        return Graph.from_text(named_expressions([model]))
    if isinstance(model, Mapping):
        return Graph.from_text(dict(model))
    if isinstance(model, Sequence) and all(isinstance(item, str) for item in model):
        return Graph.from_text(named_expressions(model))
    raise GraphError(
        f"model is a {type(model).__name__}; give a Graph, a dict name -> expression, "
        "a list of 'name = expression' texts or one expression text"
    )


def named_expressions(texts: Sequence[str]) -> dict[str, str]:
    """Split ``"name = expr"`` texts into a dict, naming unnamed expressions y, y1, ...

    Raises
    ------
    GraphError
        If two texts define the same name or there are no texts.
    """
    if not texts:
        raise GraphError("no model expression given; write e.g. 'Z = V/I'")
    unnamed = [text for text in texts if not _ASSIGNMENT.match(text)]
    result: dict[str, str] = {}
    counter = 0
    for text in texts:
        match = _ASSIGNMENT.match(text)
        if match:
            name, expr = match["name"], match["expr"]
        else:
            counter += 1
            name, expr = ("y" if len(unnamed) == 1 else f"y{counter}"), text
        if name in result:
            raise GraphError(f"output {name!r} is defined twice; give each output once")
        result[name] = expr
    return result


def sink_nodes(graph) -> tuple[str, ...]:
    """Return the nodes that no other node uses, in definition order."""
    used = set()
    for expr in graph.nodes.values():
        used.update(symbol.name for symbol in expr.free_symbols)
    return tuple(name for name in graph.nodes if name not in used)


class Model:
    """A graph with chosen outputs, compiled for propagation.

    Parameters
    ----------
    graph : propagate.symbolic.Graph
    outputs : sequence of str, optional
        Node names to propagate to; by default the nodes that no other node uses.
    """

    def __init__(self, graph, outputs: Sequence[str] | None = None):
        self.graph = graph
        self.inputs: tuple[str, ...] = tuple(graph.inputs)
        if outputs is None:
            outputs = sink_nodes(graph)
        elif isinstance(outputs, str):
            outputs = (outputs,)
        unknown = [name for name in outputs if name not in graph.nodes]
        if unknown:
            raise GraphError(
                f"output {unknown[0]!r} is not a node of the model; nodes are "
                f"{', '.join(graph.nodes)}"
            )
        if not outputs:
            raise GraphError("the model has no output node; define one, e.g. 'Z = V/I'")
        self.outputs: tuple[str, ...] = tuple(outputs)

    def value_function(self):
        """Return the compiled ``f(*inputs) -> list of output arrays``."""
        return _compile_cached(self.graph, ("values", self.outputs), lambda: list(self.outputs))

    def values(self, *arrays) -> np.ndarray:
        """Evaluate the outputs; returns shape (m,) + the broadcast input shape."""
        return np.array(self.value_function()(*arrays), dtype=np.float64)

    def values_and_jacobian(self, *arrays) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the outputs and ∂f_a/∂x_i in one compiled call; returns shapes
        (m,) and (m, n), each followed by the broadcast input shape."""

        def expressions():
            matrix = self.graph.jacobian(list(self.outputs), wrt=list(self.inputs))
            return list(self.outputs) + list(matrix)

        function = _compile_cached(self.graph, ("first order", self.outputs), expressions)
        flat = np.array(function(*arrays), dtype=np.float64)
        m, n = len(self.outputs), len(self.inputs)
        return flat[:m], flat[m:].reshape((m, n) + flat.shape[1:])

    def second_derivatives(self, *values: float) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the Hessians H^a_ij and the third derivatives T^a_ij = ∂³f_a/∂x_i∂x_j²
        at one point; returns two arrays of shape (m, n, n)."""
        n = len(self.inputs)
        hessian_exprs = []
        third_exprs = []
        for name in self.outputs:
            hessian = self.graph.hessian(name, wrt=list(self.inputs))
            hessian_exprs.extend(hessian)

            # The third derivatives come from sympy directly on the expression in the
            # inputs, because the Hessian entries may refer to intermediate nodes.
            expression = self.graph.expression(name)
            symbols = {symbol.name: symbol for symbol in expression.free_symbols}
            second = [
                [_derivative(expression, symbols, (a, b)) for b in self.inputs] for a in self.inputs
            ]
            for i in range(n):
                for j in range(n):
                    third_exprs.append(_derivative(second[i][j], symbols, (self.inputs[j],)))

        # sympy differentiates sign(x), the derivative of abs(x), to a DiracDelta. Away from
        # the kink it is 0, and at the kink the library's convention abs'(0) = 0 already
        # drops the jump, so the delta terms are dropped too.
        expressions = [
            expression.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))
            for expression in hessian_exprs + third_exprs
        ]
        function = self.graph.compile(expressions, inputs=self.inputs)
        flat = np.array(function(*values), dtype=np.float64)
        m = len(self.outputs)
        hessians = flat[: m * n * n].reshape(m, n, n)
        third = flat[m * n * n :].reshape(m, n, n)
        return hessians, third


# Compiled functions by graph content, so that repeated propagation through the same model
# skips sympy code generation, which costs milliseconds per call. The key contains the
# graph's inputs and node expressions, so a graph changed after compiling misses.
_COMPILED: OrderedDict = OrderedDict()
_CACHE_SIZE = 64


def clear_compiled_cache() -> None:
    """Forget every compiled model function (for timing the first call)."""
    _COMPILED.clear()


def _compile_cached(graph, purpose: tuple, expressions):
    key = (tuple(graph.inputs), tuple(graph.nodes.items()), purpose)
    function = _COMPILED.get(key)
    if function is None:
        function = graph.compile(expressions(), inputs=tuple(graph.inputs))
        _COMPILED[key] = function
        if len(_COMPILED) > _CACHE_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return function


def _derivative(expression, symbols: dict, names: tuple[str, ...]):
    for name in names:
        if name not in symbols:
            return sympy.Integer(0)
        expression = sympy.diff(expression, symbols[name])
    return expression
