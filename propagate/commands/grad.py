"""``propagate grad``: exact gradients of an expression or graph, with the chain rule per path."""

from __future__ import annotations

import argparse
import json
import math

from propagate.errors import GraphError, ParseError
from propagate.symbolic import Graph, parse
from propagate.symbolic.printing import to_display, to_latex, to_text

DESCRIPTION = """\
Print the exact gradient of EXPR with respect to each --wrt name, the chain rule as
local factors along every path, and with --at the numeric values.

EXPR is one expression, e.g. "x*sin(y)/z", or definitions separated by ';' that form a
graph, the last one the output, e.g. "z = w*x + b; a = sigmoid(z); L = (a - y)^2/2".
"""


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
    names = [name.strip() for name in text.split(",") if name.strip()]
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
        try:
            value = parse(text)
        except ParseError as exc:
            raise ParseError(f"invalid value in --at {item!r}: {exc}") from exc
        if value.free_symbols:
            raise ParseError(f"invalid value in --at {item!r}: a value must be a number")
        values[name] = float(value)
    return values


def _check_values(graph: Graph, exprs, values: dict[str, float]) -> None:
    needed = {symbol.name for expr in exprs for symbol in expr.free_symbols}
    missing = [name for name in graph.inputs if name in needed and name not in values]
    if missing:
        raise GraphError(
            f"missing value for '{missing[0]}'; add --at {missing[0]}=VALUE "
            f"(inputs without a value: {', '.join(missing)})"
        )


def _number(value: float):
    return value if math.isfinite(value) else None


def run(args) -> int:
    graph, output = build_graph(args.expr)
    wrt = parse_wrt(graph, args.wrt)
    values = parse_at(graph, args.at)
    expression = graph.expression(output)
    gradient = graph.gradient(output, wrt)
    chains = {name: graph.chain(output, name) for name in wrt}

    numbers = {}
    path_values = {}
    output_value = None
    if args.at:
        _check_values(graph, [expression, *gradient.values()], values)
        output_value = graph.evaluate(output, values)
        for name in wrt:
            numbers[name] = graph.evaluate(gradient[name], values)
            path_values[name] = chains[name].evaluate(values).paths

    if args.json:
        result = {
            "expression": to_text(expression),
            "gradient": {name: to_text(gradient[name]) for name in wrt},
            "chain": {
                name: [[to_text(factor) for factor in path.factors] for path in chains[name].paths]
                for name in wrt
            },
        }
        if args.at:
            result["value"] = {name: _number(numbers[name]) for name in wrt}
        print(json.dumps(result, indent=2))
        return 0

    if args.latex:
        print(f"{to_latex(graph.symbol(output))} = {to_latex(expression)}")
        for name in wrt:
            print()
            partial = rf"\frac{{\partial {to_latex(graph.symbol(output))}}}"
            partial += rf"{{\partial {to_latex(graph.symbol(name))}}}"
            print(f"{partial} = {to_latex(gradient[name])}")
            print(chains[name].latex())
            if args.at:
                print(f"{partial} = {numbers[name]!r}")
        return 0

    print(f"{output} = {to_display(expression)}")
    if args.at:
        at_text = ", ".join(f"{key}={value!r}" for key, value in values.items())
        print(f"  at {at_text}: {output} = {output_value!r}")
    for name in wrt:
        print()
        print(f"∂{output}/∂{name} = {to_display(gradient[name])}")
        lines = str(chains[name]).splitlines()
        print(f"  chain rule: {lines[0]}")
        for line in lines[1:]:
            print(f"  {line}")
        if args.at:
            print(f"  at {at_text}: ∂{output}/∂{name} = {numbers[name]!r}")
            if len(path_values[name]) > 1:
                listed = ", ".join(repr(value) for value in path_values[name])
                print(f"  path values: {listed}")
    return 0
