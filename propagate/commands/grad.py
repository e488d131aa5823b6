"""``propagate grad``: exact gradients of an expression or graph, with the chain rule per path."""

from __future__ import annotations

import argparse
import json
import math

from propagate.errors import GraphError, ParseError
from propagate.symbolic import Graph, parse
from propagate.symbolic.chain import TooManyPathsError
from propagate.symbolic.parser import recursion_limit
from propagate.symbolic.printing import to_display, to_latex, to_text

DESCRIPTION = """\
Print the exact gradient of EXPR with respect to each --wrt name, the chain rule as
local factors along every path, and with --at the numeric values.

EXPR is one expression, e.g. "x*sin(y)/z", or definitions separated by ';' that form a
graph, the last one the output, e.g. "z = w*x + b; a = sigmoid(z); L = (a - y)^2/2".

A value that is not a real number at the --at point (a division by zero, or the log of a
negative number) prints as "undefined" and as null in --json; if the output itself is
undefined there, the command fails. A chain with more than 10,000 paths is not listed
(null in --json).
"""

MAX_PATHS = 10_000

# sympy differentiates and prints nested expressions recursively, so deep graphs need more
# than Python's default of 1,000 frames. With this limit a chain of 600 tanh nodes runs.
RECURSION_LIMIT = 10_000


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "grad",
        help="exact gradient and chain rule of an expression",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("expr", metavar="EXPR", help="expression or 'name = expr; ...' graph")
    parser.add_argument(
        "--wrt",
        metavar="NAMES",
        help="comma-separated names to differentiate with respect to (default: all inputs)",
    )
    parser.add_argument(
        "--at",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="value of an input for numeric evaluation; repeat for each input",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
    output.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def build_graph(text: str) -> tuple[Graph, str]:
    """Build the graph of EXPR and return it with the name of its output node.

    A part without '=' (a single expression, or the last part of a graph) becomes the node
    ``f`` (``f1``, ``f2``... if that name is taken).
    """
    parts = [part.strip() for part in text.split(";")]
    parts = [part for part in parts if part]
    if not parts:
        raise ParseError("empty expression; write a formula such as 'x*sin(y)'")
    definitions = []
    for index, part in enumerate(parts):
        if "=" in part:
            name, _, expr = part.partition("=")
            definitions.append((name.strip(), expr))
        elif index == len(parts) - 1:
            definitions.append((None, part))
        else:
            raise ParseError(
                f"definition {part!r} has no 'name ='; only the last part may be a bare expression"
            )
    if definitions[-1][0] is None:
        used = set(parse(definitions[-1][1]).free_symbols)
        taken = {symbol.name for symbol in used} | {name for name, _ in definitions if name}
        output = _free_name("f", taken)
        definitions[-1] = (output, definitions[-1][1])
    output = definitions[-1][0]
    graph = Graph.from_text([f"{name} = {expr}" for name, expr in definitions])
    return graph, output


def _free_name(base: str, taken: set[str]) -> str:
    name, number = base, 0
    while name in taken:
        number += 1
        name = f"{base}{number}"
    return name


def parse_wrt(graph: Graph, text: str | None) -> list[str]:
    """Return the --wrt names, checked against the graph (default: all inputs)."""
    if text is None:
        return list(graph.inputs)
    # dict.fromkeys drops repeated names and keeps the order.
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise GraphError("--wrt is empty; give comma-separated names such as --wrt w,b")
    for name in names:
        if name not in graph:
            raise GraphError(f"unknown --wrt name '{name}'; inputs are: {', '.join(graph.inputs)}")
    return names


def parse_at(graph: Graph, items: list[str]) -> dict[str, float]:
    """Return the --at values as floats, checked against the graph's inputs."""
    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ParseError(f"malformed --at {item!r}; write NAME=VALUE, e.g. --at x=1.5")
        if name not in graph or not graph.is_input(name):
            raise GraphError(f"unknown --at name '{name}'; inputs are: {', '.join(graph.inputs)}")
        if name in values:
            raise ParseError(f"--at {name} is given twice; give one value per input")
        try:
            value = parse(text)
        except ParseError as exc:
            raise ParseError(f"invalid value in --at {item!r}: {exc}") from exc
        if value.free_symbols:
            raise ParseError(f"invalid value in --at {item!r}: a value must be a number")
        values[name] = _to_float(value, item)
    return values


def _to_float(value, item: str) -> float:
    try:
        number = float(value)
    except TypeError as exc:
        raise ParseError(f"invalid value in --at {item!r}: {value} is not a real number") from exc
    if not math.isfinite(number):
        raise ParseError(
            f"invalid value in --at {item!r}: outside the float64 range (±1.8e308)"
        )
    if number == 0 and value != 0:
        raise ParseError(
            f"invalid value in --at {item!r}: too small for float64, where it would become 0"
        )
    return number


def _check_values(graph: Graph, exprs, values: dict[str, float]) -> None:
    needed = {symbol.name for expr in exprs for symbol in expr.free_symbols}
    missing = [name for name in graph.inputs if name in needed and name not in values]
    if missing:
        raise GraphError(
            f"missing value for '{missing[0]}'; add --at {missing[0]}=VALUE "
            f"(inputs without a value: {', '.join(missing)})"
        )


def _number(value: float | None):
    return value if value is not None and math.isfinite(value) else None


def _value(graph: Graph, item, values: dict[str, float]) -> tuple[float | None, str]:
    """Evaluate ``item`` at ``values``: its float, or None where it is not a real number.

    Also returns sympy's text of the value, such as ``zoo`` for a division by zero.
    """
    value = graph.evaluate(item, values, dps=17)
    try:
        number = float(value)
    except TypeError:
        return None, str(value)
    return (None if math.isnan(number) else number), str(value)


def _shown(value: float | None) -> str:
    return "undefined" if value is None else repr(value)


def _chain(graph: Graph, output: str, name: str):
    """Return the chain of ``name``, or None if it has more than MAX_PATHS paths."""
    try:
        return graph.chain(output, name, max_paths=MAX_PATHS)
    except TooManyPathsError:
        return None


def _path_values(chain, values: dict[str, float]):
    try:
        return chain.evaluate(values).paths
    except GraphError:
        return None


def run(args) -> int:
    try:
        with recursion_limit(RECURSION_LIMIT):
            return _run(args)
    except RecursionError:
        raise GraphError(
            "the expression is nested too deeply to differentiate or print; "
            "use fewer nested nodes or functions"
        ) from None


def _run(args) -> int:
    graph, output = build_graph(args.expr)
    wrt = parse_wrt(graph, args.wrt)
    values = parse_at(graph, args.at)
    expression = graph.expression(output)
    gradient = graph.gradient(output, wrt)
    chains = {name: _chain(graph, output, name) for name in wrt}

    numbers = {}
    path_values = {}
    if args.at:
        _check_values(graph, [expression, *gradient.values()], values)
        at_text = ", ".join(f"{key}={value!r}" for key, value in values.items())
        output_value, raw = _value(graph, output, values)
        if output_value is None:
            raise GraphError(
                f"{output} = {to_display(expression)} is undefined at {at_text} (value {raw}); "
                "choose a point where it is a real number"
            )
        for name in wrt:
            numbers[name], _ = _value(graph, gradient[name], values)
            if chains[name] is not None:
                path_values[name] = _path_values(chains[name], values)

    if args.json:
        result = {
            "expression": to_text(expression),
            "gradient": {name: to_text(gradient[name]) for name in wrt},
            "chain": {name: _chain_json(chains[name]) for name in wrt},
        }
        if args.at:
            result["value"] = {name: _number(numbers[name]) for name in wrt}
        print(json.dumps(result, indent=2, allow_nan=False))
        return 0

    if args.latex:
        print(f"{to_latex(graph.symbol(output))} = {to_latex(expression)}")
        for name in wrt:
            print()
            partial = rf"\frac{{\partial {to_latex(graph.symbol(output))}}}"
            partial += rf"{{\partial {to_latex(graph.symbol(name))}}}"
            print(f"{partial} = {to_latex(gradient[name])}")
            if chains[name] is None:
                print(f"% chain rule: more than {MAX_PATHS:,} paths, not listed")
            else:
                print(chains[name].latex())
            if args.at:
                value_text = r"\text{undefined}" if numbers[name] is None else repr(numbers[name])
                print(f"{partial} = {value_text}")
        return 0

    print(f"{output} = {to_display(expression)}")
    if args.at:
        print(f"  at {at_text}: {output} = {output_value!r}")
    for name in wrt:
        print()
        print(f"∂{output}/∂{name} = {to_display(gradient[name])}")
        if chains[name] is None:
            print(f"  chain rule: more than {MAX_PATHS:,} paths, not listed")
        else:
            lines = str(chains[name]).splitlines()
            print(f"  chain rule: {lines[0]}")
            for line in lines[1:]:
                print(f"  {line}")
        if args.at:
            print(f"  at {at_text}: ∂{output}/∂{name} = {_shown(numbers[name])}")
            paths = path_values.get(name)
            if chains[name] is not None and len(chains[name].paths) > 1:
                listed = "undefined" if paths is None else ", ".join(map(repr, paths))
                print(f"  path values: {listed}")
    return 0


def _chain_json(chain):
    if chain is None:
        return None
    return [[to_text(factor) for factor in path.factors] for path in chain.paths]
