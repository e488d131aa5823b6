"""Bounds on the exact rational numbers that parsing and graph substitution may build.

sympy computes sums, products and powers of exact rationals in full when it builds an
expression. So ``9**9**9``, ``exp(10**20*log(10))`` or a chain of nodes that each square a
constant would take minutes and gigabytes. The size of each such number is estimated
before it is built:

- a parsed expression keeps below :data:`MAX_DIGITS` decimal digits in numerator and
  denominator, which also keeps it printable (by default Python rejects converting an
  integer of more than 4,300 digits to text);
- substituting nodes or exact input values keeps below :data:`MAX_SUBSTITUTED_DIGITS`,
  which leaves room for exact inputs such as the float 1e-300 as a fraction (about 1,000
  digits) raised to small powers.
"""

from __future__ import annotations

import math

import sympy

MAX_DIGITS = 1000
MAX_SUBSTITUTED_DIGITS = 100_000

_LOG10_2 = math.log10(2)

# An exponent above 2**100 makes any power of a base other than 0 and ±1 far larger than
# MAX_DIGITS, and is kept out of float() where it would overflow.
_MAX_EXPONENT_BITS = 100


def digits(number: sympy.Rational) -> float:
    """Return log10 of the larger of a rational's numerator and denominator: its digit count."""
    return math.log10(max(abs(number.p), number.q))


def estimated_digits(func, args) -> float:
    """Estimate the digits of the largest exact number that building ``func(*args)`` computes.

    The estimate is an upper bound for powers and products and for the sum of the pure
    numbers of an ``Add``, and 0 for functions that build no larger rational. It is computed
    from the numeric coefficients of ``args`` without building anything.
    """
    if func is sympy.Pow:
        return _power_digits(*args)
    if func is sympy.Mul:
        return _product_digits(args)
    if func is sympy.Add:
        return _sum_digits(args)
    if func is sympy.exp:
        # sympy rewrites exp(c*log(b)) as b**c.
        return max((_log_power_digits(term) for term in sympy.Add.make_args(args[0])), default=0)
    return 0


def _coefficient(expr) -> sympy.Rational | None:
    coefficient, _ = expr.as_coeff_Mul()
    return coefficient if coefficient.is_Rational else None


def _power_digits(base, exponent) -> float:
    coefficient = _coefficient(base)
    if not exponent.is_Rational or coefficient is None or abs(coefficient) in (0, 1):
        return 0
    if abs(exponent.p).bit_length() - exponent.q.bit_length() > _MAX_EXPONENT_BITS:
        return math.inf
    # sympy also raises the coefficient of a product to the power: (2*x)**3 is 8*x**3.
    return float(abs(exponent)) * digits(coefficient)


def _product_digits(args) -> float:
    numerator_bits = denominator_bits = 0
    for arg in args:
        coefficient = _coefficient(arg)
        if coefficient is None or abs(coefficient) == 1:
            continue
        numerator_bits += abs(coefficient.p).bit_length()
        denominator_bits += coefficient.q.bit_length()
    return max(numerator_bits, denominator_bits) * _LOG10_2


def _sum_digits(args) -> float:
    # Only pure numbers are added up exactly: a/b + c/d has a denominator of at most
    # bits(b) + bits(d) and a numerator of at most max(bits(a), bits(c)) + bits(b) + bits(d) + 1.
    numbers = [arg for arg in args if arg.is_Rational]
    if len(numbers) < 2:
        return 0
    numerator_bits = max(abs(number.p).bit_length() for number in numbers)
    denominator_bits = sum(number.q.bit_length() for number in numbers)
    return (numerator_bits + denominator_bits + math.log2(len(numbers))) * _LOG10_2


def _log_power_digits(term) -> float:
    coefficient, rest = term.as_coeff_Mul()
    if not isinstance(rest, sympy.log) or len(rest.args) != 1:
        return 0
    return _power_digits(rest.args[0], coefficient)


def substitute(expr, replacements: dict, context: str, error=ValueError):
    """Return ``expr.xreplace(replacements)``, refusing to build an oversized exact number.

    An exact number is oversized above :data:`MAX_SUBSTITUTED_DIGITS` digits.

    Parameters
    ----------
    expr : sympy.Basic
    replacements : dict
        Symbol to expression.
    context : str
        Where the expression comes from, for the error message, e.g. ``"node 'b'"``.
    error : type
        Exception class raised when an exact number would be oversized.
    """
    cache: dict = {}

    def rebuild(node):
        if node in replacements:
            return replacements[node]
        if not node.args:
            return node
        if node in cache:
            return cache[node]
        args = tuple(rebuild(arg) for arg in node.args)
        if all(new is old for new, old in zip(args, node.args, strict=True)):
            result = node
        else:
            size = estimated_digits(node.func, args)
            if size > MAX_SUBSTITUTED_DIGITS:
                raise error(
                    f"{context}: an exact number with {size_text(size)} digits would be "
                    f"built (limit {MAX_SUBSTITUTED_DIGITS:,}); use smaller constants or floats"
                )
            result = node.func(*args)
        cache[node] = result
        return result

    return rebuild(expr)


def size_text(size: float) -> str:
    """Return a digit estimate as text for messages."""
    if math.isinf(size):
        return "more than 10^30"
    return f"about {math.ceil(size):,}" if size < 1e7 else f"about {size:.2e}"
