"""Numeric reverse sweep over a symbolic Graph: exact adjoints evaluated node by node.

The sweep is the one :meth:`propagate.symbolic.Graph.adjoints` performs, each adjoint the
sum over the node's children of ``adjoint(child) · ∂local(child)/∂node``, but the local
derivatives are evaluated at the input values before they are multiplied. The adjoint
expressions of a deep network nest every later layer, so building and compiling them
takes seconds, while the local derivatives are small: most are a single symbol (a weight or
an activation) or a number. Those are looked up; the others are compiled into one NumPy
function (float64) or evaluated by sympy through mpmath (``dps`` significant digits).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mpmath
import sympy

from propagate.errors import GraphError
from propagate.symbolic.graph import Graph

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """Values and adjoints of one reverse sweep.

    Attributes
    ----------
    values : dict of str to number
        Every input and every node the output needs, at the given inputs.
    adjoints : dict of str to number
        ``∂output/∂name`` for the same names (0 where the output does not depend on a name);
        for a node this is its error term δ.
    magnitudes : dict of str to float
        For the same names, the sum over every chain-rule path of the absolute value of
        its contribution: the adjoint with every local derivative replaced by its absolute
        value. Rounding in any evaluation of the adjoint is bounded by a small multiple of
        machine epsilon times this magnitude, even where the contributions cancel.
    dps : int or None
        Significant digits of an mpmath evaluation, or None for float64.
    """

    values: dict[str, object]
    adjoints: dict[str, object]
    magnitudes: dict[str, float]
    dps: int | None


class SweepPlan:
    """The local derivatives of every edge that the outputs depend on, ready to evaluate.

    Build it once per graph and outputs, then call :meth:`run` or :meth:`run_all` for any
    input values. Several outputs share one compiled function and one set of local
    derivative values; each output costs one more numeric sweep.
    """

    def __init__(self, graph: Graph, outputs: str | list[str]):
        self.outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        for output in self.outputs:
            if graph.is_input(output):
                raise GraphError(f"'{output}' is an input; the sweep needs a node as its output")
        self.graph = graph
        self.order = graph.ancestors(self.outputs)
        self.edges: list[tuple[str, str, sympy.Expr]] = []
        for child in self.order:
            for parent in graph.parents(child):
                self.edges.append((child, parent, local_derivative(graph, child, parent)))
        self.compound = [d for _, _, d in self.edges if not d.is_Atom]
        self._compiled = None

    def _compiled_function(self):
        # One compiled function returns every node value, then every non-atomic local
        # derivative, so common subexpressions are computed once.
        if self._compiled is None:
            self._compiled = self.graph.compile([*self.order, *self.compound])
        return self._compiled

    def run(self, at: Mapping[str, float], dps: int | None = None) -> SweepResult:
        """Evaluate values and adjoints of the first output, in float64 or with ``dps`` digits."""
        values, factors = self._factors(at, dps)
        return self._sweep(values, factors, self.outputs[0], dps)

    def run_all(self, at: Mapping[str, float], dps: int | None = None) -> dict[str, SweepResult]:
        """Evaluate values and adjoints of every output; see :meth:`run`."""
        values, factors = self._factors(at, dps)
        return {output: self._sweep(values, factors, output, dps) for output in self.outputs}

    def _factors(self, at, dps):
        """Return the values and the local derivative of every edge, in edge order."""
        values, derivatives = (
            self._float_values(at) if dps is None else self._precise_values(at, dps)
        )
        compound = iter(derivatives)
        factors = []
        for _, _, derivative in self.edges:
            if derivative.is_Symbol:
                factors.append(values[derivative.name])
            elif derivative.is_Atom:
                factors.append(float(derivative) if dps is None else _to_mpf(derivative))
            else:
                factors.append(next(compound))
        return values, factors

    def _sweep(self, values, factors, output: str, dps) -> SweepResult:
        one, zero = (1.0, 0.0) if dps is None else (mpmath.mpf(1), mpmath.mpf(0))
        adjoints = {name: zero for name in values}
        adjoints[output] = one
        magnitudes = {name: 0.0 for name in values}
        magnitudes[output] = 1.0

        # Edges are grouped by child in topological order, so walking them backwards
        # completes every child's adjoint before it is passed on to the child's parents.
        context = mpmath.workdps(dps) if dps is not None else _nothing()
        with context:
            for (child, parent, _), factor in zip(
                reversed(self.edges), reversed(factors), strict=True
            ):
                adjoint = adjoints[child]
                if adjoint:
                    adjoints[parent] = adjoints[parent] + adjoint * factor
                magnitude = magnitudes[child]
                if magnitude:
                    magnitudes[parent] += magnitude * abs(float(factor))
        return SweepResult(values, adjoints, magnitudes, dps)

    def _float_values(self, at):
        function = self._compiled_function()
        results = function(**{name: at[name] for name in function.inputs})
        results = [float(result) for result in results]
        values = {name: float(at[name]) for name in self.graph.inputs if name in at}
        values.update(zip(self.order, results[: len(self.order)], strict=True))
        return values, results[len(self.order) :]

    def _precise_values(self, at, dps: int):
        exact = self.graph.values(at, dps=dps, names=self.outputs)
        symbols = {self.graph.symbol(name): value for name, value in exact.items()}
        derivatives = []
        for expr in self.compound:
            value = expr.xreplace(symbols).evalf(dps)
            if not value.is_Number:
                raise GraphError(f"local derivative {expr} has no real value: {value}")
            derivatives.append(_to_mpf(value))
        values = {name: _to_mpf(value) for name, value in exact.items()}
        return values, derivatives


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def _to_mpf(value) -> mpmath.mpf:
    return mpmath.mpf(sympy.Float(value)._mpf_)


def local_derivative(graph: Graph, child: str, parent: str) -> sympy.Expr:
    """Return ``∂local(child)/∂parent`` in node symbols, differentiating only terms that use it.

    A Linear unit's local expression is a sum of one term per parent, and
    :meth:`Graph.local_derivative` differentiates every term of it for every parent,
    which makes the cost quadratic in the fan-in. Differentiating only the terms that
    contain the parent gives the same derivative in linear time.
    """
    # TODO: move this term selection into Graph.local_derivative, which every reverse sweep
    # of the graph would then share.
    local = graph.nodes[child] if child in graph.nodes else None
    if local is None:
        raise GraphError(f"'{child}' is an input and has no local expression")
    symbol = graph.symbol(parent)
    if isinstance(local, sympy.Add):
        terms = [term for term in local.args if symbol in term.free_symbols]
        return sympy.Add(*[_term_derivative(term, symbol) for term in terms])
    return sympy.diff(local, symbol)


def _term_derivative(term: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    """Differentiate one term; a product ``c·symbol`` with ``c`` free of it gives ``c``."""
    if term == symbol:
        return sympy.S.One
    if isinstance(term, sympy.Mul) and symbol in term.args:
        others = [factor for factor in term.args if factor != symbol]
        if len(others) == len(term.args) - 1 and not any(
            symbol in factor.free_symbols for factor in others
        ):
            return sympy.Mul(*others)
    return sympy.diff(term, symbol)
