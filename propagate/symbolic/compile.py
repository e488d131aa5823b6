"""Compilation of graph expressions into one vectorised NumPy function.

The generated function computes the needed nodes in topological order, then the requested
expressions after common-subexpression elimination (``sympy.cse``). Its source is printed by
sympy's SciPy printer from sympy objects, with every input and node renamed to a generated
identifier, so no user text ever reaches the code that is executed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import sympy
from sympy.printing.numpy import SciPyPrinter

from propagate.errors import GraphError, ShapeError

logger = logging.getLogger(__name__)


class CompiledFunction:
    """A compiled set of expressions: call with arrays, get a list of float64 arrays.

    Call as ``f(*arrays)`` in the order of :attr:`inputs` or as ``f(**arrays)`` by name.
    Every result is broadcast to the common shape of the inputs, so a constant derivative
    comes back as a full array. Inputs are converted to float64.

    Attributes
    ----------
    inputs : tuple of str
        Argument names, in order.
    source : str
        The generated Python source, for inspection.
    """

    def __init__(self, function, inputs: tuple[str, ...], source: str, count: int):
        self._function = function
        self.inputs = inputs
        self.source = source
        self._count = count

    def __repr__(self) -> str:
        return f"CompiledFunction(inputs={self.inputs}, outputs={self._count})"

    def __call__(self, *args, **kwargs) -> list[np.ndarray]:
        arrays = self._arguments(args, kwargs)
        try:
            shape = np.broadcast_shapes(*(array.shape for array in arrays))
        except ValueError as exc:
            shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(self.inputs, arrays, strict=True))
            raise ShapeError(f"input shapes do not broadcast together: {shapes}") from exc
        results = self._function(*arrays)
        return [np.array(np.broadcast_to(np.asarray(r, dtype=np.float64), shape)) for r in results]

    def _arguments(self, args, kwargs) -> list[np.ndarray]:
        if args and kwargs:
            raise TypeError("pass inputs either all by position or all by name, not both")
        if kwargs:
            unknown = sorted(set(kwargs) - set(self.inputs))
            if unknown:
                raise GraphError(f"unknown inputs {unknown}; expected inputs: {list(self.inputs)}")
            missing = [name for name in self.inputs if name not in kwargs]
            if missing:
                raise GraphError(f"missing inputs {missing}; expected inputs: {list(self.inputs)}")
            args = [kwargs[name] for name in self.inputs]
        if len(args) != len(self.inputs):
            raise GraphError(
                f"expected {len(self.inputs)} inputs {list(self.inputs)}, got {len(args)}"
            )
        arrays = []
        for name, value in zip(self.inputs, args, strict=True):
            try:
                arrays.append(np.asarray(value, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise GraphError(f"input '{name}' is not numeric: {value!r}") from exc
        return arrays


class _Printer(SciPyPrinter):
    """SciPy printer that writes constants from numpy, so only scipy.special is needed."""

    def _print_Pi(self, expr):
        return "numpy.pi"


def _printer() -> SciPyPrinter:
    return _Printer({"fully_qualified_modules": True, "inline": True, "strict": True})


def _namespace() -> dict:
    # Imported here because scipy.special takes a noticeable time to load and only
    # generated code needs it (scipy.special.erf for the GELU).
    import scipy.special

    return {"numpy": np, "scipy": scipy}


def compile_graph(graph, exprs, inputs: Iterable[str] | None = None) -> CompiledFunction:
    """Compile names and expressions over ``graph`` into one vectorised NumPy function.

    Parameters
    ----------
    graph : Graph
    exprs : str, sympy.Expr or list of them
        Node or input names and sympy expressions, which may contain node symbols (such as
        the adjoints from :meth:`Graph.adjoints`).
    inputs : list of str, optional
        Argument order; default ``graph.inputs``. Every input that the expressions need must
        be listed.

    Returns
    -------
    CompiledFunction

    Raises
    ------
    GraphError
        If an expression uses an unknown name or an input missing from ``inputs``.
    """
    if isinstance(exprs, str | sympy.Basic):
        exprs = [exprs]
    outputs = [graph.resolve(item, context="compiled expression") for item in exprs]
    # A subexpression equal to a node's local expression (such as sigmoid(z) inside the
    # derivative of a = sigmoid(z)) reuses that node's value instead of computing it again.
    reuse = {local: graph.symbol(name) for name, local in graph.nodes.items() if not local.is_Atom}
    outputs = [expr.xreplace(reuse) for expr in outputs]
    inputs = tuple(graph.inputs if inputs is None else inputs)
    for name in inputs:
        if not graph.is_input(name):
            raise GraphError(f"'{name}' is a node, not an input; compile over inputs only")

    used = {s.name for expr in outputs for s in expr.free_symbols}
    nodes = graph.ancestors(used)
    needed_inputs = {p for name in nodes for p in graph.parents(name) if graph.is_input(p)}
    needed_inputs |= {name for name in used if graph.is_input(name)}
    missing = sorted(needed_inputs - set(inputs))
    if missing:
        raise GraphError(
            f"the expressions need inputs {missing}, which are not in inputs={list(inputs)}"
        )

    # Generated identifiers replace user names, so the source depends on sympy objects only.
    rename = {graph.symbol(name): sympy.Symbol(f"_in{i}") for i, name in enumerate(inputs)}
    rename.update({graph.symbol(name): sympy.Symbol(f"_node{k}") for k, name in enumerate(nodes)})
    printer = _printer()
    lines = [f"def _compiled({', '.join(str(rename[graph.symbol(n)]) for n in inputs)}):"]
    for name in nodes:
        local = graph.nodes[name].xreplace(rename)
        lines.append(f"    {rename[graph.symbol(name)]} = {printer.doprint(local)}")

    renamed = [expr.xreplace(rename) for expr in outputs]
    replacements, reduced = sympy.cse(renamed, symbols=sympy.numbered_symbols("_cse"))
    for symbol, value in replacements:
        lines.append(f"    {symbol} = {printer.doprint(value)}")
    returned = ", ".join(printer.doprint(expr) for expr in reduced)
    lines.append(f"    return ({returned},)")
    source = "\n".join(lines) + "\n"

    namespace = _namespace()
    exec(compile(source, "<propagate.symbolic.compile>", "exec"), namespace)  # noqa: S102
    logger.debug("compiled %d expressions over %d nodes", len(outputs), len(nodes))
    return CompiledFunction(namespace["_compiled"], inputs, source, len(outputs))
