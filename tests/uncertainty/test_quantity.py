"""Quantity: construction from std or half-width, and rejection of invalid inputs."""

import math

import pytest

from propagate.errors import QuantityError
from propagate.uncertainty import Quantity


def test_quantity_defaults():
    q = Quantity(4.999, 0.0032)
    assert q.dof == math.inf
    assert q.distribution == "normal"
    assert q.variance == pytest.approx(0.0032**2, rel=1e-15)


def test_rectangular_half_width():
    # JCGM 100:2008, 4.3.7: u = a/√3.
    q = Quantity.rectangular(20.0, 0.5)
    assert q.std == pytest.approx(0.5 / math.sqrt(3), rel=1e-15)
    assert q.half_width == pytest.approx(0.5, rel=1e-15)


def test_triangular_half_width():
    # JCGM 100:2008, 4.3.9: u = a/√6.
    q = Quantity.triangular(1.0, 0.6)
    assert q.std == pytest.approx(0.6 / math.sqrt(6), rel=1e-15)


def test_parse_with_dof():
    q = Quantity.parse("4.9990(32)", name="V", dof=4)
    assert (q.value, q.std, q.dof, q.name) == (4.999, 0.0032, 4.0, "V")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"value": 1.0, "std": -0.1}, "standard uncertainty"),
        ({"value": 1.0, "std": math.inf}, "standard uncertainty"),
        ({"value": math.nan, "std": 0.1}, "value"),
        ({"value": math.inf, "std": 0.1}, "value"),
        ({"value": 1.0, "std": 0.1, "dof": 0}, "degrees of freedom"),
        ({"value": 1.0, "std": 0.1, "dof": -3}, "degrees of freedom"),
        ({"value": 1.0, "std": 0.1, "distribution": "gaussian"}, "distribution"),
        ({"value": 1.0, "std": 0.1, "distribution": "t"}, "t distribution"),
        ({"value": "abc", "std": 0.1}, "give a number"),
    ],
)
def test_quantity_rejects(kwargs, fragment):
    with pytest.raises(QuantityError, match=fragment):
        Quantity(name="V", **kwargs)


def test_rejection_names_input():
    with pytest.raises(QuantityError, match="'V'"):
        Quantity(1.0, -0.1, name="V")


def test_negative_half_width_rejected():
    with pytest.raises(QuantityError, match="half-width"):
        Quantity.rectangular(1.0, -0.5, name="T")


def test_negative_value_allowed():
    assert Quantity(-273.15, 0.01).value == -273.15
