"""Inputs from one set of simultaneous readings: effective degrees of freedom n - 1 and
Monte Carlo draws from a multivariate t distribution."""

import logging
import math
from importlib import resources

import numpy as np
import pytest
from scipy import stats

from propagate.errors import QuantityError
from propagate.uncertainty import Quantity, propagate_uncertainty, read_readings, type_a
from propagate.uncertainty.montecarlo import draw_inputs

READINGS = resources.files("propagate") / "data" / "gum_h2_readings.csv"
H2 = {"R": "V/(I*1e-3)*cos(phi)", "X": "V/(I*1e-3)*sin(phi)", "Z": "V/(I*1e-3)"}

# Five simultaneous readings of A and B, correlated.
ROWS = np.array([[1.02, 2.11], [0.97, 2.03], [1.05, 2.16], [0.99, 1.98], [1.01, 2.07]])


def test_h2_dof_four():
    # GUM H.2, approach 1: R, X and Z come from 5 sets of readings, so 4 degrees of freedom.
    readings = read_readings(READINGS)
    result = propagate_uncertainty(H2, readings.quantities(), readings.correlation_pairs())
    for name in H2:
        assert result[name].dof == pytest.approx(4.0)


def test_linear_model_matches_derived_column():
    # For y = 2A - B the mean of the derived values 2a_k - b_k has exactly the same
    # standard uncertainty and n - 1 = 4 degrees of freedom.
    readings = type_a(ROWS, ["A", "B"])
    result = propagate_uncertainty("2*A - B", readings.quantities(), readings.correlation_pairs())[
        "y"
    ]
    derived = 2 * ROWS[:, 0] - ROWS[:, 1]
    assert result.std == pytest.approx(derived.std(ddof=1) / math.sqrt(5))
    assert result.dof == pytest.approx(4.0)
    assert result.k == pytest.approx(stats.t.ppf(0.975, 4))


def test_group_with_independent_input():
    # One group component (variance g, 4 dof) and one Type B input (variance b, 10 dof):
    # ν = (g + b)² / (g²/4 + b²/10).
    readings = type_a(ROWS, ["A", "B"])
    inputs = dict(readings.quantities())
    inputs["C"] = Quantity(0.0, 0.02, dof=10)
    result = propagate_uncertainty("2*A - B + C", inputs, readings.correlation_pairs())["y"]
    g = (2 * ROWS[:, 0] - ROWS[:, 1]).var(ddof=1) / 5
    b = 0.02**2
    assert result.dof == pytest.approx((g + b) ** 2 / (g**2 / 4 + b**2 / 10))


def test_group_needs_one_dof():
    inputs = {
        "A": Quantity(1.0, 0.1, dof=4, group="run"),
        "B": Quantity(1.0, 0.1, dof=6, group="run"),
    }
    with pytest.raises(QuantityError, match="'run'"):
        propagate_uncertainty("A + B", inputs)


def test_quantities_default_t():
    quantities = type_a(ROWS, ["A", "B"]).quantities()
    assert quantities["A"].distribution == "t"
    assert quantities["A"].group == quantities["B"].group


def test_three_readings_fall_back_normal(caplog):
    with caplog.at_level(logging.WARNING):
        quantities = type_a(ROWS[:3], ["A", "B"]).quantities()
    assert quantities["A"].distribution == "normal"
    assert "at least 4 readings" in caplog.text


def test_group_draws_are_multivariate_t():
    # A linear combination of a multivariate t is a scaled t with the same ν = 4.
    readings = type_a(ROWS, ["A", "B"])
    quantities = list(readings.quantities().values())
    draws = draw_inputs(quantities, readings.correlation, 200_000, np.random.default_rng(3))
    combined = 2 * draws[0] - draws[1]
    scale = math.sqrt(np.array([2.0, -1.0]) @ readings.covariance @ np.array([2.0, -1.0]))
    standardised = (combined - combined.mean()) / scale
    assert stats.kstest(standardised, stats.t(4).cdf).pvalue > 1e-3


def test_group_draws_keep_correlation():
    readings = type_a(ROWS, ["A", "B"])
    quantities = list(readings.quantities().values())
    draws = draw_inputs(quantities, readings.correlation, 200_000, np.random.default_rng(4))
    assert np.corrcoef(draws)[0, 1] == pytest.approx(readings.correlation[0, 1], abs=0.01)


def test_monte_carlo_interval_matches_first_order():
    # Linear model: the first-order interval y ± t_4 u and the Monte Carlo interval of
    # the multivariate t coincide up to sampling error.
    readings = type_a(ROWS, ["A", "B"])
    result = propagate_uncertainty(
        "2*A - B",
        readings.quantities(),
        readings.correlation_pairs(),
        method="monte-carlo",
        samples=400_000,
        seed=8,
    )["y"]
    first = result.details["first_order"]
    assert result.interval[0] == pytest.approx(first["interval"][0], abs=0.02 * first["expanded"])
    assert result.interval[1] == pytest.approx(first["interval"][1], abs=0.02 * first["expanded"])
    # The t distribution's standard deviation is u √(ν/(ν - 2)) = u √2 for ν = 4.
    assert result.std == pytest.approx(first["std"] * math.sqrt(2), rel=0.03)
