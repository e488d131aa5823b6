"""Interoperation with the ``uncertainties`` package: UFloat inputs and results."""

import numpy as np
import pytest
import uncertainties
from uncertainties import ufloat

from propagate.uncertainty import from_ufloats, propagate_uncertainty


def test_ufloat_inputs():
    a, b = ufloat(2.0, 0.1), ufloat(3.0, 0.2)
    expected = a * b
    out = propagate_uncertainty("a*b", {"a": a, "b": b})["y"]
    assert out.std == pytest.approx(expected.std_dev, rel=1e-14)


def test_ufloat_correlations_kept():
    # b and c share x, so they are correlated; the result must match uncertainties.
    x, z = ufloat(1.5, 0.2), ufloat(0.7, 0.1)
    b, c = 2 * x + z, x - 3 * z
    expected = b / c
    out = propagate_uncertainty("b/c", {"b": b, "c": c})["y"]
    assert out.std == pytest.approx(expected.std_dev, rel=1e-13)


def test_from_ufloats_matrix():
    x, z = ufloat(1.5, 0.2), ufloat(0.7, 0.1)
    numbers = {"b": x + z, "c": x - z}
    quantities, correlation = from_ufloats(numbers)
    expected = np.array(uncertainties.correlation_matrix(list(numbers.values())))
    assert np.allclose(correlation, expected, rtol=1e-14, atol=1e-15)
    assert quantities["b"].std == pytest.approx(numbers["b"].std_dev, rel=1e-15)


def test_mixed_inputs_pairs():
    a = ufloat(2.0, 0.1)
    out = propagate_uncertainty("a + b", {"a": a, "b": (1.0, 0.2)}, {("a", "b"): 0.5})["y"]
    assert out.std**2 == pytest.approx(0.01 + 0.04 + 2 * 0.5 * 0.1 * 0.2, rel=1e-14)


def test_results_round_trip():
    result = propagate_uncertainty(["s = A + B", "d = A - B"], {"A": (1.0, 0.3), "B": (2.0, 0.1)})
    numbers = result.to_ufloats()
    covariance = np.array(uncertainties.covariance_matrix([numbers["s"], numbers["d"]]))
    assert np.allclose(covariance, result.covariance, rtol=1e-12, atol=1e-15)
    assert numbers["s"].nominal_value == result["s"].value


def test_results_feed_back():
    # Outputs as UFloats keep their correlation when propagated further: s + d = 2A.
    first = propagate_uncertainty(["s = A + B", "d = A - B"], {"A": (1.0, 0.3), "B": (2.0, 0.1)})
    numbers = first.to_ufloats()
    again = propagate_uncertainty("s + d", numbers)["y"]
    assert again.std == pytest.approx(0.6, rel=1e-12)
