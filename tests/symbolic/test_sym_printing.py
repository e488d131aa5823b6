"""Text, display and LaTeX forms: safety against text input and sizes of exact numbers."""

import pytest
import sympy

from propagate.errors import GraphError, ParseError
from propagate.symbolic import to_display, to_latex, to_text

HOSTILE = "__import__('pathlib').Path('{path}').write_text('ran')"


@pytest.mark.parametrize("printer", [to_text, to_display, to_latex])
def test_printer_rejects_text(printer, tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(ParseError):
        printer(HOSTILE.format(path=marker))
    assert not marker.exists()


@pytest.mark.parametrize("printer", [to_text, to_display, to_latex])
def test_printer_rejects_bytes(printer):
    with pytest.raises(ParseError):
        printer(b"x + 1")


def test_printer_accepts_numbers():
    assert to_text(1.5) == "1.50000000000000"
    assert to_text(sympy.Rational(1, 3)) == "1/3"


@pytest.mark.parametrize("printer", [to_text, to_display, to_latex])
def test_printer_rejects_unprintable_integer(printer):
    with pytest.raises(GraphError) as info:
        printer(sympy.Integer(10) ** 5000 * sympy.Symbol("x"))
    assert "digits" in str(info.value)
