"""Safe parser from user text to sympy expressions: a tokenizer and a precedence-climbing parser.

Only numbers, names, the operators ``+ - * / ** ^``, parentheses, commas inside function calls
and an allow-list of functions are accepted. The parser builds sympy objects directly and
never hands user text to ``eval``, ``sympify`` or ``parse_expr``; anything else is a
:class:`~propagate.errors.ParseError` that names the position and the offending token.
"""

from __future__ import annotations

import contextlib
import re
import sys
from dataclasses import dataclass
from fractions import Fraction

import sympy

from propagate.errors import ParseError
from propagate.symbolic import exact
from propagate.symbolic import functions as fn

MAX_LENGTH = 10_000
MAX_DEPTH = 200

# Exact numbers (literals, and sums, products and powers of them) are bounded in size.
MAX_NUMBER_DIGITS = exact.MAX_DIGITS
# Decimal exponents beyond float64's range would compile to inf or 0.
MAX_DECIMAL_EXPONENT = 308


def _log(x, base=None):
    return sympy.log(x) if base is None else sympy.log(x, base)


def _leaky_relu(x, slope=None):
    return fn.leaky_relu(x) if slope is None else fn.leaky_relu(x, slope)


@dataclass(frozen=True)
class _FunctionSpec:
    build: object
    min_args: int
    max_args: int | None


FUNCTIONS = {
    "sin": _FunctionSpec(sympy.sin, 1, 1),
    "cos": _FunctionSpec(sympy.cos, 1, 1),
    "tan": _FunctionSpec(sympy.tan, 1, 1),
    "asin": _FunctionSpec(sympy.asin, 1, 1),
    "acos": _FunctionSpec(sympy.acos, 1, 1),
    "atan": _FunctionSpec(sympy.atan, 1, 1),
    "atan2": _FunctionSpec(sympy.atan2, 2, 2),
    "sinh": _FunctionSpec(sympy.sinh, 1, 1),
    "cosh": _FunctionSpec(sympy.cosh, 1, 1),
    "tanh": _FunctionSpec(sympy.tanh, 1, 1),
    "exp": _FunctionSpec(sympy.exp, 1, 1),
    "log": _FunctionSpec(_log, 1, 2),
    "log10": _FunctionSpec(lambda x: sympy.log(x, 10), 1, 1),
    "sqrt": _FunctionSpec(sympy.sqrt, 1, 1),
    "abs": _FunctionSpec(sympy.Abs, 1, 1),
    "pow": _FunctionSpec(None, 2, 2),  # built by _power, which bounds the size of numbers
    "min": _FunctionSpec(fn.minimum, 2, None),
    "max": _FunctionSpec(fn.maximum, 2, None),
    "sigmoid": _FunctionSpec(fn.sigmoid, 1, 1),
    "relu": _FunctionSpec(fn.relu, 1, 1),
    "leaky_relu": _FunctionSpec(_leaky_relu, 1, 2),
    "softplus": _FunctionSpec(fn.softplus, 1, 1),
    "gelu": _FunctionSpec(fn.gelu, 1, 1),
}

CONSTANTS = {"pi": sympy.pi, "e": sympy.E}

RESERVED = frozenset(FUNCTIONS) | frozenset(CONSTANTS)

_ALLOWED_FUNCTIONS = ", ".join(sorted(FUNCTIONS))

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/^(),])
    """,
    re.VERBOSE | re.ASCII,
)

# Binary operators: precedence and whether they associate to the right.
_BINARY = {"+": (1, False), "-": (1, False), "*": (2, False), "/": (2, False)}
_POWER_PRECEDENCE = 4


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind (``number``, ``name``, ``op`` or ``end``), text and offset."""

    kind: str
    text: str
    position: int


def is_valid_name(name: str) -> bool:
    """Return True if ``name`` can be a symbol: an ASCII identifier, not reserved, not dunder."""
    return (
        isinstance(name, str)
        and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None
        and not name.startswith("__")
        and name not in RESERVED
    )


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    Raises
    ------
    ParseError
        On a character that starts no token, such as a quote, a dot after a name or ``[``.
    """
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            char = text[position]
            hint = _character_hint(char)
            raise ParseError(f"unexpected character{hint}", text, position, char)
        kind = match.lastgroup
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _character_hint(char: str) -> str:
    if not char.isascii():
        return (
            "; only ASCII is allowed: names use the letters A-Z and a-z, digits and '_', "
            "and numbers the digits 0-9"
        )
    if char in "'\"":
        return "; strings are not allowed in expressions"
    if char == ".":
        return "; attribute access is not allowed, and a number needs a digit before or after '.'"
    if char in "[]{}":
        return "; subscripts and brackets other than ( ) are not allowed"
    if char == "=":
        return "; an expression has no '=' (in graph text write one 'name = expr' per definition)"
    return "; allowed are numbers, names, + - * / ** ^, parentheses and commas"


class _Parser:
    """Recursive-descent parser with precedence climbing over a token list."""

    def __init__(self, text: str, symbols: dict[str, sympy.Symbol] | None):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.symbols = symbols if symbols is not None else {}

    # Token helpers.

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, token: Token | None = None) -> ParseError:
        token = token or self.current
        token_text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
        return ParseError(message, self.text, token.position, token_text or "end of input")

    def expect(self, text: str, context: str) -> Token:
        if self.current.text != text or self.current.kind != "op":
            raise self.error(f"expected '{text}' {context}")
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels; simplify it")

    # Grammar.

    def parse(self) -> sympy.Expr:
        if self.current.kind == "end":
            raise ParseError("empty expression; write a formula such as 'x*sin(y)'", self.text, 0)
        expr = self.expression(0)
        if self.current.kind != "end":
            previous = self.tokens[self.index - 1]
            follows = self.current.kind in ("number", "name") or self.current.text == "("
            if follows and not self.current.text.startswith("."):
                raise self.error(
                    f"missing operator between '{previous.text}' and '{self.current.text}'; "
                    f"write '{previous.text}*{self.current.text}' for a product, because "
                    "implicit multiplication is not supported"
                )
            raise self.error("unexpected token after a complete expression (missing operator?)")
        return expr

    def expression(self, min_precedence: int) -> sympy.Expr:
        """Parse binary operators of at least ``min_precedence`` (precedence climbing)."""
        left = self.unary()
        while self.current.kind == "op" and self.current.text in _BINARY:
            precedence, _ = _BINARY[self.current.text]
            if precedence < min_precedence:
                break
            operator = self.advance()
            right = self.expression(precedence + 1)
            left = _apply_binary(operator, left, right, self)
        return left

    def unary(self) -> sympy.Expr:
        """Parse a run of unary signs iteratively, so '----x' costs no recursion."""
        negate = False
        while self.current.kind == "op" and self.current.text in "+-":
            if self.advance().text == "-":
                negate = not negate
        value = self.power()
        return -value if negate else value

    def power(self) -> sympy.Expr:
        """Parse ``base ** exponent``; the exponent may carry a sign and is right-associative."""
        base = self.primary()
        if self.current.kind == "op" and self.current.text in ("**", "^"):
            operator = self.advance()
            self.enter()
            exponent = self.unary()
            self.depth -= 1
            return _power(base, exponent, self, operator)
        return base

    def primary(self) -> sympy.Expr:
        token = self.current
        if token.kind == "number":
            self.advance()
            return self.number(token)
        if token.kind == "name":
            self.advance()
            if self.current.kind == "op" and self.current.text == "(":
                return self.call(token)
            return self.name(token)
        if token.kind == "op" and token.text == "(":
            self.advance()
            self.enter()
            expr = self.expression(0)
            self.depth -= 1
            self.expect(")", f"to close the parenthesis opened at position {token.position}")
            return expr
        if token.kind == "end":
            raise self.error("expression ends too early; an operand is missing")
        raise self.error("expected a number, a name or '('")

    def number(self, token: Token) -> sympy.Expr:
        mantissa, _, exponent = token.text.lower().partition("e")
        whole, _, fraction = mantissa.partition(".")
        # Leading zeros are stripped before int(), which rejects texts of over 4,300 digits.
        significant = (whole + fraction).lstrip("0") or "0"
        exponent_digits = exponent.lstrip("+-").lstrip("0") or "0"
        if len(exponent_digits) > 3 or int(exponent_digits) > MAX_DECIMAL_EXPONENT:
            raise self.error(
                f"number out of range; decimal exponents are limited to ±{MAX_DECIMAL_EXPONENT}",
                token,
            )
        # The value is significant * 10**scale, so its digit count follows without building it.
        scale = int(exponent_digits) * (-1 if exponent.startswith("-") else 1) - len(fraction)
        size = max(len(significant) + max(scale, 0), -scale)
        if size > MAX_NUMBER_DIGITS:
            raise self.error(
                f"number has {size} digits as an exact fraction; the limit is {MAX_NUMBER_DIGITS}",
                token,
            )
        # Decimals become exact rationals, so '0.1' is 1/10 and gradients stay exact.
        value = Fraction(int(significant)) * Fraction(10) ** scale
        return sympy.Rational(value.numerator, value.denominator)

    def name(self, token: Token) -> sympy.Expr:
        name = token.text
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            raise self.error(f"function '{name}' must be called, as in {name}(x)", token)
        self.check_name(token)
        symbol = self.symbols.get(name)
        if symbol is None:
            symbol = sympy.Symbol(name, real=True)
            self.symbols[name] = symbol
        return symbol

    def check_name(self, token: Token) -> None:
        if token.text.startswith("__"):
            raise self.error("names starting with '__' are not allowed", token)

    def call(self, token: Token) -> sympy.Expr:
        name = token.text
        if name not in FUNCTIONS:
            if name in CONSTANTS:
                raise self.error(
                    f"'{name}' is a constant, not a function; it cannot be called", token
                )
            self.check_name(token)
            if name in self.symbols:
                raise self.error(
                    f"'{name}' is a variable, not a function; it cannot be called", token
                )
            raise self.error(
                f"unknown function '{name}' (write '{name}*(...)' to multiply); "
                f"allowed: {_ALLOWED_FUNCTIONS}",
                token,
            )

        spec = FUNCTIONS[name]
        opening = self.advance()
        self.enter()
        args = []
        if not (self.current.kind == "op" and self.current.text == ")"):
            args.append(self.expression(0))
            while self.current.kind == "op" and self.current.text == ",":
                self.advance()
                args.append(self.expression(0))
        self.expect(")", f"to close the call of '{name}' opened at position {opening.position}")
        self.depth -= 1

        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            raise self.error(f"'{name}' takes {_arity_text(spec)}, got {len(args)}", token)
        if name == "pow":
            return _power(args[0], args[1], self, token)
        if name == "log" and len(args) == 2:
            _check_log_base(args[1], self, token)
        if name == "exp":
            _check_size(sympy.exp, args, self, token)
        return spec.build(*args)


def _arity_text(spec: _FunctionSpec) -> str:
    if spec.max_args is None:
        return f"at least {spec.min_args} arguments"
    if spec.min_args == spec.max_args:
        return f"{spec.min_args} argument" + ("s" if spec.min_args > 1 else "")
    return f"{spec.min_args} to {spec.max_args} arguments"


def _apply_binary(token: Token, left: sympy.Expr, right: sympy.Expr, parser: _Parser):
    operator = token.text
    _check_size(sympy.Add if operator in "+-" else sympy.Mul, (left, right), parser, token)
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    return left / right


def _power(base: sympy.Expr, exponent: sympy.Expr, parser: _Parser, token: Token) -> sympy.Expr:
    """Build ``base**exponent``, rejecting exact numeric powers too large to compute."""
    _check_size(sympy.Pow, (base, exponent), parser, token)
    return base**exponent


def _check_size(func, args, parser: _Parser, token: Token) -> None:
    """Raise a ParseError if ``func(*args)`` would build an exact number over the limit."""
    size = exact.estimated_digits(func, args)
    if size > MAX_NUMBER_DIGITS:
        size_text = exact.size_text(size)
        raise parser.error(
            f"number too large: the exact result would have {size_text} digits "
            f"(limit {MAX_NUMBER_DIGITS}); use smaller numbers",
            token,
        )


def _check_log_base(base: sympy.Expr, parser: _Parser, token: Token) -> None:
    """Reject a numeric logarithm base that is not positive or is 1."""
    if base.is_number and not (base.is_extended_positive and base != 1):
        raise parser.error(
            f"invalid logarithm base {base}; the base must be a positive number other than 1",
            token,
        )


def _check_defined(expr: sympy.Expr, text: str) -> None:
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ParseError(
            f"expression '{text}' is undefined or infinite ({expr}); check for division by zero",
            text,
        )
    if expr.has(sympy.I) or (expr.is_number and expr.is_extended_real is False):
        raise ParseError(
            f"expression '{text}' has a complex value ({expr}); only real values are supported",
            text,
        )


# Python frames per nesting level: expression, unary, power, primary and call.
_FRAMES_PER_LEVEL = 6


@contextlib.contextmanager
def recursion_limit(limit: int):
    """Raise the interpreter's recursion limit to at least ``limit`` for the block."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def parse(text: str, symbols: dict[str, sympy.Symbol] | None = None) -> sympy.Expr:
    """Parse a formula into a sympy expression without evaluating any user text.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"x*sin(y)/z"``. ``^`` and ``**`` both mean power, decimals become
        exact rationals and ``pi`` and ``e`` are the constants.
    symbols : dict, optional
        Name to Symbol map used for names and updated with new ones. New names become
        ``sympy.Symbol(name, real=True)``.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ParseError
        On anything outside the grammar, with the position and the offending token.

    Examples
    --------
    >>> parse("x*sin(y)/z")
    x*sin(y)/z
    >>> parse("2^-1")
    1/2
    """
    if not isinstance(text, str):
        raise ParseError(f"expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
            text,
            MAX_LENGTH,
        )
    try:
        with recursion_limit(_FRAMES_PER_LEVEL * MAX_DEPTH + 2000):
            expr = _Parser(text, symbols).parse()
    except RecursionError as exc:
        raise ParseError("expression too deeply nested; simplify it", text) from exc
    _check_defined(expr, text)
    return expr
