"""The computational graph: named inputs and nodes, exact reverse-mode gradients and Hessians.

A node is a sympy expression of its direct parents only (inputs and earlier nodes), so the
graph is a DAG in topological order by construction. Gradients come from a reverse sweep:
each adjoint ``∂output/∂node`` is the sum over the node's children of
``adjoint(child) · ∂local(child)/∂node``. The sweep keeps node symbols, so subexpressions
that the graph shares stay shared, and replaces them by inputs only at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import sympy

from propagate.errors import GraphError, ParseError
from propagate.symbolic.exact import substitute
from propagate.symbolic.parser import CONSTANTS, FUNCTIONS, is_valid_name, parse

logger = logging.getLogger(__name__)

NameOrExpr = str | sympy.Expr


class Graph:
    """A DAG of named sympy expressions over named inputs.

    Examples
    --------
    >>> from propagate.symbolic import Graph, sigmoid
    >>> g = Graph()
    >>> w, x, b, y = g.add_inputs("w x b y")
    >>> z = g.add_node("z", w*x + b)
    >>> a = g.add_node("a", sigmoid(z))
    >>> L = g.add_node("L", (a - y)**2 / 2)
    >>> g.adjoints("L")["b"]
    (1 - sigmoid(z))*(a - y)*sigmoid(z)
    >>> g.gradient("L", wrt=["b"])["b"]
    (1 - sigmoid(b + w*x))*(-y + sigmoid(b + w*x))*sigmoid(b + w*x)
    """

    def __init__(self):
        self._symbols: dict[str, sympy.Symbol] = {}
        self._inputs: list[str] = []
        self._nodes: dict[str, sympy.Expr] = {}
        self._parents: dict[str, tuple[str, ...]] = {}
        self._children: dict[str, list[str]] = {}
        self._full: dict[str, sympy.Expr] = {}
        self._local_derivatives: dict[tuple[str, str], sympy.Expr] = {}
        self._adjoints: dict[str, dict[str, sympy.Expr]] = {}

    # Building.

    def add_input(self, name: str) -> sympy.Symbol:
        """Add one input and return its real Symbol."""
        self._check_new_name(name)
        symbol = sympy.Symbol(name, real=True)
        self._symbols[name] = symbol
        self._inputs.append(name)
        self._children[name] = []
        return symbol

    def add_inputs(self, names: str | Iterable[str]) -> tuple[sympy.Symbol, ...]:
        """Add inputs from a space- or comma-separated string or a list of names.

        Returns
        -------
        tuple of sympy.Symbol
            One real Symbol per name, in the order given.
        """
        if isinstance(names, str):
            names = names.replace(",", " ").split()
        return tuple(self.add_input(name) for name in names)

    def add_node(self, name: str, expr: NameOrExpr) -> sympy.Symbol:
        """Add a node ``name = expr`` and return the node's Symbol.

        Parameters
        ----------
        name : str
            A new name: an identifier that is not a function name, ``pi`` or ``e``.
        expr : sympy.Expr or str
            The node's local expression. It may use only inputs and earlier nodes. Text is
            parsed with :func:`propagate.symbolic.parse`.

        Raises
        ------
        GraphError
            If the name is taken or invalid, or the expression uses an unknown name.
        """
        self._check_new_name(name)
        if isinstance(expr, str):
            expr = parse(expr)
        local = self._adopt(expr, context=f"node '{name}'")
        parents = tuple(sorted(s.name for s in local.free_symbols))
        self._add_node_unchecked(name, local, parents)
        return self._symbols[name]

    def _add_node_unchecked(self, name: str, local: sympy.Expr, parents: tuple[str, ...]):
        symbol = sympy.Symbol(name, real=True)
        self._symbols[name] = symbol
        self._nodes[name] = local
        self._parents[name] = parents
        self._children[name] = []
        for parent in parents:
            self._children[parent].append(name)

    @classmethod
    def from_text(
        cls,
        definitions: Mapping[str, str] | Iterable[str],
        inputs: Iterable[str] | None = None,
    ) -> Graph:
        """Build a graph from node definitions given as text.

        Parameters
        ----------
        definitions : dict or list of str
            ``{"z": "w*x + b", ...}`` or ``["z = w*x + b", ...]``, each definition using only
            inputs and earlier definitions.
        inputs : list of str, optional
            The inputs in order. By default every name that is not defined as a node is an
            input, in order of first appearance.

        Raises
        ------
        ParseError
            If a definition cannot be parsed.
        GraphError
            If a node is defined twice, used before its definition or an input is missing
            from ``inputs``.
        """
        pairs = _definition_pairs(definitions)
        defined = [name for name, _ in pairs]
        parsed = []
        appearance: list[str] = []
        for name, text in pairs:
            symbols: dict[str, sympy.Symbol] = {}
            try:
                expr = parse(text, symbols)
            except ParseError as exc:
                raise ParseError(f"in the definition of '{name}': {exc}") from exc
            parsed.append((name, expr))
            for used in symbols:
                if used not in defined and used not in appearance:
                    appearance.append(used)

        graph = cls()
        if inputs is None:
            inputs = appearance
        else:
            inputs = list(inputs)
            missing = [used for used in appearance if used not in inputs]
            if missing:
                raise GraphError(
                    f"names {missing} are neither defined nor listed in inputs={inputs}; "
                    "define them or add them to inputs"
                )
        graph.add_inputs(inputs)
        uses = {name: {s.name for s in expr.free_symbols} for name, expr in parsed}
        for name, expr in parsed:
            later = [s.name for s in expr.free_symbols if s.name in defined and s.name not in graph]
            if name in later:
                raise GraphError(
                    f"node '{name}' uses itself; a definition may use only inputs and earlier nodes"
                )
            cycle = _find_cycle(name, uses)
            if cycle:
                raise GraphError(
                    f"definitions form a cycle {' -> '.join(cycle)}; define each node from "
                    "inputs and earlier nodes only"
                )
            if later:
                raise GraphError(
                    f"node '{name}' uses {sorted(later)} before their definition; "
                    "define every node before the nodes that use it"
                )
            graph.add_node(name, expr)
        return graph

    def _check_new_name(self, name: str) -> None:
        if name in self._symbols:
            raise GraphError(f"name '{name}' is already defined in this graph; choose another")
        if not is_valid_name(name):
            if name in FUNCTIONS or name in CONSTANTS:
                raise GraphError(
                    f"invalid name {name!r}: it is a function or constant of the parser"
                )
            raise GraphError(
                f"invalid name {name!r}; use an identifier of letters, digits and '_' "
                "that does not start with a digit or '__'"
            )

    def _adopt(self, expr, context: str) -> sympy.Expr:
        """Return ``expr`` with every symbol replaced by the graph's Symbol of that name."""
        try:
            expr = sympy.sympify(expr, strict=True)
        except sympy.SympifyError as exc:
            raise GraphError(f"{context}: expected a sympy expression, got {expr!r}") from exc
        if not isinstance(expr, sympy.Expr):
            raise GraphError(f"{context}: expected a sympy expression, got {type(expr).__name__}")
        replacements = {}
        for symbol in expr.free_symbols:
            known = self._symbols.get(symbol.name)
            if known is None:
                raise GraphError(
                    f"{context} uses '{symbol.name}', which is neither an input nor an earlier "
                    f"node; add it with add_inputs('{symbol.name}') or define it first"
                )
            if known != symbol:
                replacements[symbol] = known
        undefined = expr.atoms(sympy.core.function.AppliedUndef)
        if undefined:
            raise GraphError(f"{context} uses undefined functions {sorted(map(str, undefined))}")
        return expr.xreplace(replacements) if replacements else expr

    # Structure.

    @property
    def inputs(self) -> tuple[str, ...]:
        """Input names, in order."""
        return tuple(self._inputs)

    @property
    def nodes(self) -> dict[str, sympy.Expr]:
        """Node name to local expression (of parents only), in topological order."""
        return dict(self._nodes)

    @property
    def names(self) -> tuple[str, ...]:
        """Every input and node name: inputs first, then nodes in topological order."""
        return (*self._inputs, *self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._symbols

    def __repr__(self) -> str:
        lines = [f"Graph(inputs={list(self._inputs)})"]
        lines += [f"  {name} = {expr}" for name, expr in self._nodes.items()]
        return "\n".join(lines)

    def symbol(self, name: str) -> sympy.Symbol:
        """Return the Symbol of an input or node."""
        self._check_known(name)
        return self._symbols[name]

    def parents(self, name: str) -> tuple[str, ...]:
        """Names that node ``name``'s local expression uses directly (empty for an input)."""
        self._check_known(name)
        return self._parents.get(name, ())

    def children(self, name: str) -> tuple[str, ...]:
        """Nodes whose local expressions use ``name`` directly, in topological order."""
        self._check_known(name)
        return tuple(self._children[name])

    def _check_known(self, name: str) -> None:
        if name not in self._symbols:
            known = ", ".join(self.names) or "none"
            raise GraphError(f"unknown name '{name}'; the graph has: {known}")

    def is_input(self, name: str) -> bool:
        """Return True if ``name`` is an input (not a node)."""
        self._check_known(name)
        return name not in self._nodes

    def ancestors(self, names: Iterable[str]) -> list[str]:
        """Nodes that ``names`` depend on, including those that are nodes, in topological order."""
        pending = [name for name in names]
        seen = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in self._nodes:
                continue
            seen.add(name)
            pending.extend(self._parents[name])
        return [name for name in self._nodes if name in seen]

    def resolve(self, item: NameOrExpr, context: str = "expression") -> sympy.Expr:
        """Return the expression for a name (its Symbol) or a sympy expression over graph names."""
        if isinstance(item, str):
            self._check_known(item)
            return self._symbols[item]
        return self._adopt(item, context)

    # Expressions in inputs only.

    def expression(self, item: NameOrExpr) -> sympy.Expr:
        """Return a node (or an expression over graph names) written in inputs only."""
        expr = self.resolve(item)
        return self._in_inputs(expr)

    def _in_inputs(self, expr: sympy.Expr) -> sympy.Expr:
        nodes = [s.name for s in expr.free_symbols if s.name in self._nodes]
        if not nodes:
            return expr
        for name in self.ancestors(nodes):
            if name not in self._full:
                local = self._nodes[name]
                # Writing a node in inputs multiplies out exact constants of earlier nodes,
                # so the substitution bounds their size (a = 9; b = a^a^a would not end).
                self._full[name] = substitute(
                    local,
                    {
                        self._symbols[p]: self._full[p]
                        for p in self._parents[name]
                        if p in self._full
                    },
                    f"node '{name}' written in inputs",
                    GraphError,
                )
        return substitute(
            expr,
            {self._symbols[name]: self._full[name] for name in nodes},
            "expression written in inputs",
            GraphError,
        )

    # Reverse sweep.

    def local_derivative(self, child: str, parent: str) -> sympy.Expr:
        """Return ``∂local(child)/∂parent``, in node symbols."""
        key = (child, parent)
        if key not in self._local_derivatives:
            local = self._nodes[child]
            self._local_derivatives[key] = _differentiate(local, self._symbols[parent])
        return self._local_derivatives[key]

    def adjoints(self, output: str) -> dict[str, sympy.Expr]:
        """Return ``∂output/∂name`` for every input and node name, in node symbols.

        The adjoint of a node that ``output`` does not depend on is 0. For a node ``z`` the
        adjoint is the error term δ = ∂output/∂z.
        """
        self._check_known(output)
        if output in self._adjoints:
            # Names added after the sweep cannot be ancestors of `output`, so their adjoint is 0.
            cached = self._adjoints[output]
            return {name: cached.get(name, sympy.S.Zero) for name in self.names}

        adjoint: dict[str, sympy.Expr] = {name: sympy.S.Zero for name in self.names}
        adjoint[output] = sympy.S.One
        for name in reversed(self.ancestors([output])):
            # Every child of `name` comes later in topological order, so its adjoint is
            # complete here; the chain rule adds one term per parent.
            if adjoint[name] == 0:
                continue
            for parent in self._parents[name]:
                adjoint[parent] += adjoint[name] * self.local_derivative(name, parent)

        self._adjoints[output] = adjoint
        return dict(adjoint)

    def gradient(self, output: str, wrt: Iterable[str] | None = None) -> dict[str, sympy.Expr]:
        """Return ``∂output/∂name`` for each name in ``wrt`` (default: all inputs), in inputs only.

        ``wrt`` may also name nodes: the result is then that node's error term δ.
        """
        wrt = self._wrt_names(wrt)
        adjoint = self.adjoints(output)
        return {name: self._in_inputs(adjoint[name]) for name in wrt}

    def _wrt_names(self, wrt: Iterable[str] | str | None) -> list[str]:
        if wrt is None:
            return list(self._inputs)
        if isinstance(wrt, str):
            wrt = wrt.replace(",", " ").split()
        wrt = list(wrt)
        for name in wrt:
            self._check_known(name)
        return wrt

    def jacobian(self, outputs: Iterable[str] | str, wrt: Iterable[str] | None = None):
        """Return the Jacobian as a sympy Matrix: rows are outputs, columns are ``wrt``."""
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
        wrt = self._wrt_names(wrt)
        rows = []
        for output in outputs:
            gradient = self.gradient(output, wrt)
            rows.append([gradient[name] for name in wrt])
        return sympy.Matrix(len(outputs), len(wrt), lambda i, j: rows[i][j])

    def hessian(self, output: str, wrt: Iterable[str] | None = None):
        """Return the symmetric Hessian of ``output`` as a sympy Matrix, in inputs only.

        Each gradient entry (in node symbols) becomes a node of an extended graph and a second
        reverse sweep differentiates it, so the graph's sharing is kept for both sweeps.
        """
        wrt = self._wrt_names(wrt)
        adjoint = self.adjoints(output)
        size = len(wrt)
        entries = {}
        for i, name in enumerate(wrt):
            extended = self._extended_with(adjoint[name])
            row = extended.adjoints(_GRADIENT_NODE)
            for j in range(i, size):
                entries[i, j] = self._in_inputs(row[wrt[j]])
        return sympy.Matrix(size, size, lambda i, j: entries[min(i, j), max(i, j)])

    def _extended_with(self, expr: sympy.Expr) -> Graph:
        """Return a copy of this graph with one more node, ``_GRADIENT_NODE = expr``."""
        extended = Graph()
        extended._symbols = dict(self._symbols)
        extended._inputs = list(self._inputs)
        extended._nodes = dict(self._nodes)
        extended._parents = dict(self._parents)
        extended._children = {name: list(children) for name, children in self._children.items()}
        extended._full = dict(self._full)
        extended._local_derivatives = dict(self._local_derivatives)
        parents = tuple(sorted(s.name for s in expr.free_symbols))
        extended._add_node_unchecked(_GRADIENT_NODE, expr, parents)
        return extended

    # Chain rule paths, evaluation and compilation.

    def chain(self, output: str, wrt: str, max_paths: int = 10_000):
        """Return every path from ``wrt`` to ``output`` with its local factors.

        See :class:`propagate.symbolic.chain.Chain`.
        """
        from propagate.symbolic.chain import Chain

        return Chain.from_graph(self, output, wrt, max_paths=max_paths)

    def values(self, at: Mapping[str, object], dps: int = 17, names=None) -> dict[str, sympy.Float]:
        """Evaluate nodes at the input values ``at`` with ``dps`` significant digits.

        Returns a dict from every input and needed node name to its value as a sympy number.
        ``names`` restricts the nodes evaluated to those that these names need.
        """
        values = {}
        for name, value in at.items():
            self._check_known(name)
            if not self.is_input(name):
                raise GraphError(f"'{name}' is a node, not an input; give values for inputs only")
            values[name] = _to_number(name, value, dps)
        needed = self.ancestors(self._nodes if names is None else names)
        for name in needed:
            missing = [p for p in self._parents[name] if p not in values]
            if missing:
                raise GraphError(
                    f"missing value for input '{missing[0]}'; give it in `at`, "
                    f"e.g. at={{'{missing[0]}': 1.0}}"
                )
            local = substitute(
                self._nodes[name],
                {self._symbols[p]: values[p] for p in self._parents[name]},
                f"value of node '{name}'",
                GraphError,
            )
            values[name] = local.evalf(dps)
        return values

    def evaluate(self, item: NameOrExpr, at: Mapping[str, object], dps: int | None = None):
        """Evaluate a name or an expression over graph names at the input values ``at``.

        Returns a float, or with ``dps`` a sympy Float with that many significant digits
        (computed through mpmath, so ``dps=50`` is exact to 50 digits).

        Raises
        ------
        GraphError
            If a needed input has no value.
        """
        expr = self.resolve(item)
        names = [s.name for s in expr.free_symbols]
        values = self.values(at, dps=dps or 17, names=names)
        missing = [name for name in names if name not in values]
        if missing:
            raise GraphError(
                f"missing value for input '{missing[0]}'; give it in `at`, "
                f"e.g. at={{'{missing[0]}': 1.0}}"
            )
        result = substitute(
            expr,
            {self._symbols[name]: values[name] for name in names},
            f"value of {item}",
            GraphError,
        )
        result = result.evalf(dps or 17)
        if not result.is_number:
            raise GraphError(f"cannot evaluate {item} to a number, got {result}")
        if dps is not None:
            return result
        try:
            return float(result)
        except TypeError as exc:
            raise GraphError(f"{item} has no real value at {dict(at)}: {result}") from exc

    def gradient_values(
        self,
        output: str,
        at: Mapping[str, object],
        wrt: Iterable[str] | None = None,
        dps: int | None = None,
    ) -> dict:
        """Evaluate ``∂output/∂name`` for each name in ``wrt`` (default: all inputs) at ``at``.

        One forward pass computes every node value, and the adjoints (in node symbols) are
        evaluated at those values, so this is much faster than :meth:`evaluate` per entry.
        Returns floats, or with ``dps`` sympy Floats with that many significant digits.

        Raises
        ------
        GraphError
            If a needed input has no value or a derivative has no real value there.
        """
        wrt = self._wrt_names(wrt)
        adjoint = self.adjoints(output)
        digits = dps or 17
        values = self.values(at, dps=digits, names=[output])
        replacements = {self._symbols[name]: value for name, value in values.items()}
        results = {}
        for name in wrt:
            value = substitute(
                adjoint[name], replacements, f"value of ∂{output}/∂{name}", GraphError
            ).evalf(digits)
            free = sorted(s.name for s in value.free_symbols)
            if free:
                raise GraphError(
                    f"missing value for input '{free[0]}'; give it in `at`, "
                    f"e.g. at={{'{free[0]}': 1.0}}"
                )
            if dps is not None:
                results[name] = value
                continue
            try:
                results[name] = float(value)
            except TypeError as exc:
                raise GraphError(
                    f"∂{output}/∂{name} has no real value at {dict(at)}: {value}"
                ) from exc
        return results

    def compile(
        self, exprs: Iterable[NameOrExpr] | NameOrExpr, inputs: Iterable[str] | None = None
    ):
        """Compile names and expressions into one vectorised NumPy function.

        See :func:`propagate.symbolic.compile.compile_graph`.
        """
        from propagate.symbolic.compile import compile_graph

        return compile_graph(self, exprs, inputs)


_GRADIENT_NODE = "_gradient_"


class _Power(sympy.Function):
    """``base**exponent`` whose derivative in the base is ``exponent*base**(exponent - 1)``.

    sympy writes d/dx x**y as x**y*y/x, which is nan at x = 0 even where the derivative
    exists (y > 1, as PyTorch's pow gradient gives). This form stays defined there.
    """

    nargs = 2

    def fdiff(self, argindex=1):
        base, exponent = self.args
        if argindex == 1:
            return exponent * _Power(base, exponent - 1)
        return self * sympy.log(base)


def _is_symbolic_power(expr) -> bool:
    return expr.is_Pow and not expr.exp.is_Number


def _differentiate(local: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr:
    """Return ``∂local/∂symbol``, with powers of symbolic exponent differentiated by _Power."""
    if not any(_is_symbolic_power(power) for power in local.atoms(sympy.Pow)):
        return sympy.diff(local, symbol)
    wrapped = local.replace(_is_symbolic_power, lambda power: _Power(*power.args))
    derivative = sympy.diff(wrapped, symbol)
    return derivative.replace(
        lambda expr: isinstance(expr, _Power), lambda expr: sympy.Pow(*expr.args)
    )


def _to_number(name: str, value, dps: int):
    if isinstance(value, sympy.Basic):
        if not value.is_number:
            raise GraphError(f"value of '{name}' must be a number, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise GraphError(f"value of '{name}' must be a real number, got {value!r}") from exc
    if isinstance(value, int):
        return sympy.Integer(value)
    return sympy.Float(value, dps)


def _find_cycle(start: str, uses: dict[str, set[str]]) -> list[str] | None:
    """Return a cycle of definitions through ``start`` as names, or None if there is none."""
    trail = [start]
    pending = [iter(sorted(uses[start]))]
    visited = {start}
    while pending:
        name = next(pending[-1], None)
        if name is None:
            pending.pop()
            trail.pop()
            continue
        if name == start:
            return [*trail, start]
        if name in uses and name not in visited:
            visited.add(name)
            trail.append(name)
            pending.append(iter(sorted(uses[name])))
    return None


def _definition_pairs(definitions) -> list[tuple[str, str]]:
    if isinstance(definitions, Mapping):
        return [(str(name), text) for name, text in definitions.items()]
    if isinstance(definitions, str):
        definitions = [part for part in definitions.split(";") if part.strip()]
    pairs = []
    seen = set()
    for definition in definitions:
        name, sep, text = definition.partition("=")
        name = name.strip()
        if not sep or not name:
            raise GraphError(f"definition {definition!r} is not of the form 'name = expression'")
        if name in seen:
            raise GraphError(f"node '{name}' is defined twice; give each definition its own name")
        seen.add(name)
        pairs.append((name, text))
    return pairs
