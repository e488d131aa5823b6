"""The chain rule shown path by path: every path from an input to an output and its factors.

The derivative of an output with respect to an input is the sum, over all paths between
them in the graph, of the product of the local derivatives ∂child/∂parent along the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from propagate.errors import GraphError
from propagate.symbolic.exact import substitute
from propagate.symbolic.printing import to_display, to_latex


class TooManyPathsError(GraphError):
    """A chain with more paths than the limit given to :meth:`Chain.from_graph`."""


@dataclass(frozen=True)
class ChainPath:
    """One path from the input to the output.

    Attributes
    ----------
    names : tuple of str
        Names from the output back to the input, e.g. ``("L", "a", "z", "w")``.
    factors : tuple of sympy.Expr
        Local derivatives ``∂names[k]/∂names[k+1]`` in node symbols, in the same order.
    """

    names: tuple[str, ...]
    factors: tuple[sympy.Expr, ...]

    @property
    def product(self) -> sympy.Expr:
        """Product of the factors, in node symbols."""
        return sympy.Mul(*self.factors)

    def symbols_text(self) -> str:
        """Return the factors as partial derivatives, e.g. ``∂L/∂a · ∂a/∂z · ∂z/∂w``."""
        if not self.factors:
            return "1"
        pairs = zip(self.names, self.names[1:], strict=False)
        return " · ".join(f"∂{child}/∂{parent}" for child, parent in pairs)

    def factors_text(self) -> str:
        """Return the factors as expressions, e.g. ``(a - y) · (1 - σ(z))*σ(z) · x``."""
        if not self.factors:
            return "1"
        return " · ".join(_display_factor(factor) for factor in self.factors)

    def symbols_latex(self) -> str:
        """Return the factors as partial derivatives in LaTeX."""
        if not self.factors:
            return "1"
        pairs = zip(self.names, self.names[1:], strict=False)
        return r" \cdot ".join(_partial_latex(child, parent) for child, parent in pairs)

    def factors_latex(self) -> str:
        """Return the factors as expressions in LaTeX."""
        if not self.factors:
            return "1"
        return r" \cdot ".join(_latex_factor(factor) for factor in self.factors)


@dataclass(frozen=True)
class ChainValue:
    """Values of a chain at a point: one per path, and their sum."""

    paths: tuple[float, ...]
    total: float


class Chain:
    """Every path from ``wrt`` to ``output`` with its local factors.

    ``str(chain)`` gives ``∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w = (a - y) · (1 - σ(z))*σ(z) · x``,
    :meth:`latex` the same in LaTeX, and :meth:`evaluate` the value of each path and of the
    total derivative. The sum of the path products equals ``graph.adjoints(output)[wrt]``.
    """

    def __init__(self, graph, output: str, wrt: str, paths: list[ChainPath]):
        self.graph = graph
        self.output = output
        self.wrt = wrt
        self.paths = paths

    @classmethod
    def from_graph(cls, graph, output: str, wrt: str, max_paths: int = 10_000) -> Chain:
        """Enumerate the paths from ``wrt`` to ``output`` by depth-first search.

        Raises
        ------
        GraphError
            If a name is unknown.
        TooManyPathsError
            If there are more than ``max_paths`` paths.
        """
        graph.symbol(output)
        graph.symbol(wrt)
        relevant = set(graph.ancestors([output])) | {output}
        paths: list[ChainPath] = []

        def walk(name: str, trail: list[str]) -> None:
            if name == output:
                names = tuple(reversed(trail))
                factors = tuple(
                    graph.local_derivative(child, parent)
                    for child, parent in zip(names, names[1:], strict=False)
                )
                paths.append(ChainPath(names, factors))
                if len(paths) > max_paths:
                    raise TooManyPathsError(
                        f"more than {max_paths} chain-rule paths from '{wrt}' to '{output}'; "
                        "use gradient() for the total or raise max_paths"
                    )
                return
            for child in graph.children(name):
                if child in relevant:
                    walk(child, [*trail, child])

        walk(wrt, [wrt])
        return cls(graph, output, wrt, paths)

    @property
    def total(self) -> sympy.Expr:
        """Sum over the paths of the product of their factors, in node symbols."""
        return sympy.Add(*(path.product for path in self.paths))

    def __str__(self) -> str:
        head = f"∂{self.output}/∂{self.wrt}"
        if not self.paths:
            return f"{head} = 0 (no path from {self.wrt} to {self.output})"
        if len(self.paths) == 1:
            path = self.paths[0]
            # One factor, or none when the output is differentiated with respect to itself.
            if len(path.factors) <= 1:
                return f"{head} = {path.factors_text()}"
            return f"{head} = {path.symbols_text()} = {path.factors_text()}"
        lines = [f"{head} = " + " + ".join(path.symbols_text() for path in self.paths)]
        for number, path in enumerate(self.paths, start=1):
            lines.append(f"  path {number}: {path.symbols_text()} = {path.factors_text()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Chain(output={self.output!r}, wrt={self.wrt!r}, paths={len(self.paths)})"

    def latex(self) -> str:
        """Return the chain rule as one LaTeX equation (sums of paths for several)."""
        head = _partial_latex(self.output, self.wrt)
        if not self.paths:
            return f"{head} = 0"
        if len(self.paths) == 1 and len(self.paths[0].factors) <= 1:
            return f"{head} = {self.paths[0].factors_latex()}"
        symbols = " + ".join(path.symbols_latex() for path in self.paths)
        factors = " + ".join(_latex_group(path, len(self.paths)) for path in self.paths)
        return f"{head} = {symbols} = {factors}"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def evaluate(self, at: Mapping[str, object]) -> ChainValue:
        """Evaluate each path and the total at the input values ``at``.

        Raises
        ------
        GraphError
            If an input that a factor needs has no value or a path has no real value.
        """
        values = self.graph.values(at, names=[self.output])
        replacements = {self.graph.symbol(name): value for name, value in values.items()}
        results = []
        for number, path in enumerate(self.paths, start=1):
            head = f"path {number} of ∂{self.output}/∂{self.wrt}"
            value = substitute(path.product, replacements, head, GraphError)
            free = sorted(s.name for s in value.free_symbols)
            if free:
                raise GraphError(
                    f"missing value for input '{free[0]}'; give it in `at`, "
                    f"e.g. at={{'{free[0]}': 1.0}}"
                )
            value = value.evalf(17)
            try:
                results.append(float(value))
            except TypeError as exc:
                raise GraphError(f"{head} has no real value at {dict(at)}: {value}") from exc
        return ChainValue(tuple(results), float(sum(results)))


def _partial_latex(child: str, parent: str) -> str:
    child_tex = sympy.latex(sympy.Symbol(child))
    parent_tex = sympy.latex(sympy.Symbol(parent))
    return rf"\frac{{\partial {child_tex}}}{{\partial {parent_tex}}}"


def _display_factor(factor: sympy.Expr) -> str:
    text = to_display(factor)
    return f"({text})" if factor.is_Add else text


def _latex_factor(factor: sympy.Expr) -> str:
    text = to_latex(factor)
    return rf"\left({text}\right)" if factor.is_Add else text


def _latex_group(path: ChainPath, count: int) -> str:
    text = path.factors_latex()
    return rf"\left({text}\right)" if count > 1 and len(path.factors) > 1 else text
