"""Text forms of a value with its standard uncertainty: parsing ``4.9990(32)``,
``4.9990+/-0.0032`` and ``4.9990 ± 0.0032``, and formatting results the same ways."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from propagate.errors import QuantityError

_NUMBER = r"(?:\d+\.?\d*|\.\d+)"
_EXPONENT = r"(?:[eE][+-]?\d+)"
_PLUS_MINUS = r"(?:\+/-|\+-|±)"

# Concise form: the digits in parentheses are the uncertainty in units of the last digit
# of the value, so ``4.9990(32)`` is 4.9990 ± 0.0032. Digits with a decimal point are in
# the units of the value, so ``12.3(1.2)`` is 12.3 ± 1.2. A trailing exponent applies to
# both (JCGM 100:2008, 7.2.2).
_CONCISE = re.compile(
    rf"^\s*(?P<value>[+-]?{_NUMBER})\((?P<uncertainty>\d+(?:\.\d+)?)\)(?P<exp>{_EXPONENT})?\s*$"
)
# Plus-minus form: each number may carry its own exponent, and a bracketed pair may share
# one, as in ``(1.23 ± 0.04)e-3``.
_PLUS_MINUS_FORM = re.compile(
    rf"^\s*(?P<open>\()?\s*(?P<value>[+-]?{_NUMBER}{_EXPONENT}?)\s*{_PLUS_MINUS}\s*"
    rf"(?P<uncertainty>{_NUMBER}{_EXPONENT}?)\s*(?(open)\)(?P<exp>{_EXPONENT})?)\s*$"
)
_PLAIN = re.compile(rf"^\s*[+-]?{_NUMBER}{_EXPONENT}?\s*$")


def parse_value_uncertainty(text: str, name: str | None = None) -> tuple[float, float]:
    """Parse a value with its standard uncertainty from text.

    Accepted forms: ``4.9990(32)``, ``1.23(4)e-3``, ``12.3(1.2)``, ``4.9990+/-0.0032``,
    ``4.9990+-0.0032``, ``4.9990±0.0032`` (spaces around the sign allowed),
    ``1.23e-3±4e-5``, ``(1.23 ± 0.04)e-3``, and a plain number, which is exact
    (uncertainty 0). A minus sign may be the hyphen or U+2212 (−).

    Parameters
    ----------
    text : str
        The text to parse.
    name : str, optional
        The input's name, used in the error message.

    Returns
    -------
    (value, std) : tuple of float

    Raises
    ------
    QuantityError
        If the text matches none of the forms above, or a number in it is not finite.

    Examples
    --------
    >>> parse_value_uncertainty("4.9990(32)")
    (4.999, 0.0032)
    >>> parse_value_uncertainty("12.3(1.2)")
    (12.3, 1.2)
    """
    if not isinstance(text, str):
        raise QuantityError(f"expected text such as '4.9990(32)', got {text!r}")
    # Typeset text often has the minus sign U+2212 where a program writes a hyphen.
    text = text.replace("\u2212", "-")

    concise = _CONCISE.match(text)
    if concise:
        value, std = _parse_concise(concise)
    else:
        plus_minus = _PLUS_MINUS_FORM.match(text)
        if plus_minus:
            scale = Decimal(f"1{plus_minus['exp']}") if plus_minus["exp"] else Decimal(1)
            value = float(Decimal(plus_minus["value"]) * scale)
            std = float(Decimal(plus_minus["uncertainty"]) * scale)
        elif _PLAIN.match(text):
            value, std = float(text), 0.0
        else:
            label = f" for {name!r}" if name else ""
            raise QuantityError(
                f"invalid value with uncertainty{label}: {text!r}; write it as "
                "4.9990(32), 4.9990+/-0.0032 or 4.9990±0.0032"
            )

    if not (math.isfinite(value) and math.isfinite(std)):
        raise QuantityError(f"value or uncertainty in {text!r} is not finite")
    return value, std


def _parse_concise(match: re.Match) -> tuple[float, float]:
    value = Decimal(match["value"])
    digits = match["uncertainty"]
    if "." in digits:
        std = Decimal(digits)
    else:
        # The exponent of the value's last digit: -4 for 4.9990.
        std = Decimal(digits).scaleb(value.as_tuple().exponent)
    if match["exp"]:
        scale = Decimal(f"1{match['exp']}")
        value, std = value * scale, std * scale
    return float(value), float(std)


def _rounding_exponent(std: float, digits: int) -> int:
    """Return the power of ten of the last significant digit of ``std`` rounded to
    ``digits`` significant digits."""
    place = math.floor(math.log10(std)) - (digits - 1)
    if round(std / 10.0**place) >= 10**digits:
        place += 1
    return place


def _scientific_exponent(value: float, std: float, place: int, digits: int) -> int | None:
    """Return the exponent to factor out, or None when fixed notation reads well."""
    if -6 <= place <= 0:
        return None
    # The value as printed, rounded at ``place``: 999000 ± 99600 prints as 1.00(10)e+06,
    # so the exponent is 6, not the 5 of 999000.
    rounded = abs(round(value / 10.0**place)) * 10.0**place
    magnitude = max(rounded, round(std / 10.0**place) * 10.0**place)
    return math.floor(math.log10(magnitude))


def format_concise(value: float, std: float, digits: int = 2) -> str:
    """Format as ``127.732(71)``: the uncertainty to ``digits`` significant digits in
    units of the value's last digit.

    Examples
    --------
    >>> format_concise(127.7317, 0.07102)
    '127.732(71)'
    >>> format_concise(1.2345e-8, 5.1e-11)
    '1.2345(51)e-08'
    """
    if not (math.isfinite(value) and math.isfinite(std)):
        return f"{value}({std})"
    if std <= 0:
        return repr(float(value))

    place = _rounding_exponent(std, digits)
    exponent = _scientific_exponent(value, std, place, digits)
    if exponent is None:
        decimals = -place
        std_digits = round(std / 10.0**place)
        return f"{value:.{decimals}f}({std_digits})"

    scaled_place = place - exponent
    decimals = max(0, -scaled_place)
    mantissa = value / 10.0**exponent
    if scaled_place > 0:
        # The uncertainty reaches past the decimal point of the mantissa.
        std_text = f"{std / 10.0**exponent:.0f}"
    else:
        std_text = str(round(std / 10.0**place))
    return f"{mantissa:.{decimals}f}({std_text})e{exponent:+03d}"


def format_plus_minus(value: float, std: float, digits: int = 2) -> str:
    """Format as ``127.732 ± 0.071``, both rounded at the uncertainty's last significant
    digit.

    Examples
    --------
    >>> format_plus_minus(127.7317, 0.07102)
    '127.732 ± 0.071'
    """
    if not (math.isfinite(value) and math.isfinite(std)):
        return f"{value} ± {std}"
    if std <= 0:
        return f"{float(value)!r} ± 0"

    place = _rounding_exponent(std, digits)
    exponent = _scientific_exponent(value, std, place, digits)
    if exponent is None:
        decimals = -place
        return f"{value:.{decimals}f} ± {std:.{decimals}f}"

    decimals = max(0, exponent - place)
    scale = 10.0**exponent
    return f"({value / scale:.{decimals}f} ± {std / scale:.{decimals}f})e{exponent:+03d}"
