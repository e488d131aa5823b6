"""Text forms of expressions: parseable text for machines and compact text for people.

:func:`to_text` writes what :func:`propagate.symbolic.parse` reads back (``abs`` for sympy's
``Abs``, ``e`` for Euler's number). :func:`to_display` writes the textbook form, such as
``σ(z)`` for the sigmoid and ``relu'(z)`` for its derivative, and is not meant to be parsed.
"""

from __future__ import annotations

import sys

import sympy
from sympy.printing.str import StrPrinter

from propagate.errors import GraphError, ParseError
from propagate.symbolic.exact import digits


class TextPrinter(StrPrinter):
    """sympy's text printer with the function and constant names of propagate's parser."""

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Exp1(self, expr):
        return "e"


class DisplayPrinter(TextPrinter):
    """Text printer with textbook names for the activations and their derivatives."""

    def _print_sigmoid(self, expr):
        return f"σ({self._print(expr.args[0])})"

    def _print_relu_grad(self, expr):
        return f"relu'({self._print(expr.args[0])})"

    def _print_leaky_relu_grad(self, expr):
        return f"leaky_relu'({self.stringify(expr.args, ', ')})"


def _as_expression(expr) -> sympy.Basic:
    """Return ``expr`` as a sympy object without ever parsing text.

    ``sympy.sympify`` of a string runs ``eval``, so text is rejected here and must go
    through :func:`propagate.symbolic.parse`.
    """
    if isinstance(expr, str | bytes | bytearray):
        raise ParseError(
            f"expected a sympy expression, got text {str(expr)[:40]!r}; "
            "parse it first with propagate.symbolic.parse"
        )
    expr = sympy.sympify(expr, strict=True)
    _check_printable(expr)
    return expr


def _check_printable(expr: sympy.Basic) -> None:
    """Raise a GraphError for an integer longer than Python converts to text.

    Python 3.11 and later (and 3.10.7 and later) reject converting an integer of more than
    ``sys.get_int_max_str_digits()`` digits (4,300 by default) with a bare ValueError.
    """
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if not limit:
        return
    largest = _largest_rational_digits(expr)
    if largest >= limit:
        raise GraphError(
            f"the expression contains an exact number of about {largest:,.0f} digits, "
            f"more than Python prints (limit {limit:,}); use smaller constants"
        )


def _largest_rational_digits(expr: sympy.Basic) -> float:
    # Each shared subexpression is visited once, so a graph whose expression in inputs
    # repeats a node many times costs its number of distinct subexpressions, not its length.
    largest = 0.0
    seen = set()
    pending = [expr]
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, sympy.Rational):
            largest = max(largest, digits(node))
        pending.extend(node.args)
    return largest


def to_text(expr) -> str:
    """Return ``expr`` as text that :func:`propagate.symbolic.parse` reads back.

    Derivative-only functions such as ``relu_grad``, ``sign`` and ``tie_share`` are printed by
    name; the parser does not accept them.
    """
    return TextPrinter({"order": None}).doprint(_as_expression(expr))


def to_display(expr) -> str:
    """Return ``expr`` as compact text for people, e.g. ``(1 - σ(z))*σ(z)``."""
    return DisplayPrinter({"order": None}).doprint(_as_expression(expr))


def to_latex(expr) -> str:
    """Return ``expr`` as LaTeX (``\\sigma`` for the sigmoid, ``\\operatorname{relu}``)."""
    return sympy.latex(_as_expression(expr))
