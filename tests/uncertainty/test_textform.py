"""Text forms of a value with uncertainty: parsing and formatting."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propagate.errors import QuantityError
from propagate.uncertainty import format_concise, format_plus_minus, parse_value_uncertainty


@pytest.mark.parametrize(
    "text",
    [
        "4.9990(32)",
        "4.9990+/-0.0032",
        "4.9990±0.0032",
        "4.9990 ± 0.0032",
        "4.9990 +- 0.0032",
        " 4.9990(32) ",
        "(4.9990 ± 0.0032)e0",
    ],
)
def test_forms_agree(text):
    assert parse_value_uncertainty(text) == (4.999, 0.0032)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.23(4)e-3", (1.23e-3, 4e-5)),
        ("12.3(1.2)", (12.3, 1.2)),
        ("1234(5)", (1234.0, 5.0)),
        ("-3.5(12)", (-3.5, 1.2)),
        ("0.000123(45)", (1.23e-4, 4.5e-5)),
        ("1.23e-3±4e-5", (1.23e-3, 4e-5)),
        ("(1.23 ± 0.04)e-3", (1.23e-3, 4e-5)),
        ("6.02214076(0)e23", (6.02214076e23, 0.0)),
        ("5", (5.0, 0.0)),
        ("\u22123.5(12)", (-3.5, 1.2)),
        ("\u22121.0 ± 0.1", (-1.0, 0.1)),
        ("1.0e\u22123±1e\u22124", (1e-3, 1e-4)),
    ],
)
def test_parse_value(text, expected):
    value, std = parse_value_uncertainty(text)
    assert value == pytest.approx(expected[0], rel=1e-15)
    assert std == pytest.approx(expected[1], rel=1e-15, abs=0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "4.9990(-32)",
        "4.9990±",
        "±0.1",
        "4.9990 ± -0.0032",
        "1(2)(3)",
        "__import__('os')",
        "4.9990(32",
        "1e999±1",
        "nan±1",
    ],
)
def test_parse_rejects(text):
    with pytest.raises(QuantityError):
        parse_value_uncertainty(text)


def test_parse_error_names_input():
    with pytest.raises(QuantityError, match="'V'"):
        parse_value_uncertainty("five", name="V")


@pytest.mark.parametrize(
    ("value", "std", "expected"),
    [
        (127.7317, 0.07102, "127.732(71)"),
        (219.8468, 0.2952, "219.85(30)"),
        (4.999, 0.0032, "4.9990(32)"),
        (-2.0, 0.0995, "-2.00(10)"),
        (1.2345e-8, 5.1e-11, "1.2345(51)e-08"),
        # The mantissa is normalised after rounding: 999000 rounds to 1.00e6.
        (999000.0, 99600.0, "1.00(10)e+06"),
    ],
)
def test_format_concise(value, std, expected):
    assert format_concise(value, std) == expected


def test_format_concise_round_trip():
    text = format_concise(1.2345e-8, 5.1e-11)
    value, std = parse_value_uncertainty(text)
    assert value == pytest.approx(1.2345e-8, rel=1e-12)
    assert std == pytest.approx(5.1e-11, rel=1e-12)


def test_format_plus_minus():
    assert format_plus_minus(127.7317, 0.07102) == "127.732 ± 0.071"


def test_format_plus_minus_rounds_up():
    assert format_plus_minus(999000.0, 99600.0) == "(1.00 ± 0.10)e+06"


def test_format_exact_value():
    assert format_plus_minus(2.5, 0.0) == "2.5 ± 0"


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(-1e6, 1e6, allow_nan=False),
    std=st.floats(1e-9, 1e3),
)
def test_concise_round_trip(value, std):
    # The printed form keeps two significant digits of u, so parsing it back recovers u to
    # within half a unit of its second digit and the value to within that unit.
    parsed_value, parsed_std = parse_value_uncertainty(format_concise(value, std))
    assert parsed_std == pytest.approx(std, rel=0.05 + 1e-12)
    assert abs(parsed_value - value) <= 0.05 * std + 1e-9 * abs(value)
