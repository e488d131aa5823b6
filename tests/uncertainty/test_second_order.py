"""Second-order propagation against exact moments and Monte Carlo."""

import math

import pytest

from propagate.errors import QuantityError
from propagate.uncertainty import Quantity, propagate_uncertainty


def test_square_exact():
    # X ~ N(mu, s): E[X²] = mu² + s², Var[X²] = 4 mu² s² + 2 s⁴, both exact to second order.
    mu, s = 1.0, 0.8
    out = propagate_uncertainty("X^2", {"X": (mu, s)}, method="second-order")["y"]
    assert out.value == pytest.approx(mu**2 + s**2, rel=1e-14)
    assert out.std**2 == pytest.approx(4 * mu**2 * s**2 + 2 * s**4, rel=1e-14)


def test_cube_gum_terms():
    # y = X³: c = 3mu², H = 6mu, ∂³f/∂x³ = 6; the GUM 5.1.2 note terms give
    # 9mu⁴s² + ½(6mu)²s⁴ + 3mu²·6·s⁴ = 9mu⁴s² + 36mu²s⁴ (the exact variance adds 15s⁶).
    mu, s = 2.0, 0.3
    out = propagate_uncertainty("X^3", {"X": (mu, s)}, method="second-order")["y"]
    assert out.std**2 == pytest.approx(9 * mu**4 * s**2 + 36 * mu**2 * s**4, rel=1e-13)
    assert out.value == pytest.approx(mu**3 + 3 * mu * s**2, rel=1e-14)


def test_product_cross_term():
    # y = X1 X2, independent: Var = mu2² s1² + mu1² s2² + s1² s2² (exact), second order
    # adds ½ Σ H_ij² u_i² u_j² = s1² s2².
    out = propagate_uncertainty("A*B", {"A": (2.0, 0.5), "B": (3.0, 0.4)}, method="second-order")[
        "y"
    ]
    expected = 3.0**2 * 0.5**2 + 2.0**2 * 0.4**2 + 0.5**2 * 0.4**2
    assert out.std**2 == pytest.approx(expected, rel=1e-14)


def test_exp_closer_to_monte_carlo():
    # exp of a normal with large u: the lognormal moments are exact references.
    mu, s = 0.0, 0.3
    exact = math.sqrt(math.exp(2 * mu + s**2) * (math.exp(s**2) - 1))
    first = propagate_uncertainty("exp(X)", {"X": (mu, s)})["y"].std
    second = propagate_uncertainty("exp(X)", {"X": (mu, s)}, method="second-order")["y"].std
    assert abs(second - exact) < abs(first - exact) / 5


def test_square_against_monte_carlo():
    inputs = {"X": (1.0, 0.8)}
    second = propagate_uncertainty("X^2", inputs, method="second-order")["y"]
    mc = propagate_uncertainty("X^2", inputs, method="monte-carlo", samples=400_000, seed=3)["y"]
    # Standard error of the mean of X² is sd/√M; of its sd about sd·√((kurtosis-1)/(4M)),
    # with kurtosis below 10 for these moments.
    samples = 400_000
    assert mc.value == pytest.approx(second.value, abs=5 * second.std / math.sqrt(samples))
    assert mc.std == pytest.approx(second.std, abs=5 * second.std * math.sqrt(9 / (4 * samples)))


def test_budget_has_second_order_row():
    out = propagate_uncertainty("X^2", {"X": (1.0, 0.8)}, method="second-order")["y"]
    rows = {row.input: row for row in out.budget}
    assert rows["second order"].variance == pytest.approx(2 * 0.8**4, rel=1e-14)
    assert sum(row.share for row in out.budget) == pytest.approx(1.0, rel=1e-14)


def test_correlated_rejected():
    with pytest.raises(QuantityError, match="independent inputs only"):
        propagate_uncertainty(
            "A*B", {"A": (1, 0.1), "B": (2, 0.1)}, {("A", "B"): 0.5}, method="second-order"
        )


def test_linear_model_unchanged():
    inputs = {"A": Quantity(1.0, 0.1, dof=5), "B": (2.0, 0.2)}
    first = propagate_uncertainty("3*A - B", inputs)["y"]
    second = propagate_uncertainty("3*A - B", inputs, method="second-order")["y"]
    assert second.std == pytest.approx(first.std, rel=1e-15)
    assert second.dof == pytest.approx(first.dof, rel=1e-15)


def test_abs_away_from_kink():
    # y = X|X| with X = 0.5 ± 0.1 (5 u from the kink): f' = 2|x| = 1, f'' = 2, f''' = 0,
    # so E[y] = 0.25 + 0.01 and Var = 0.01 + ½·4·1e-4, as for X² on x > 0.
    out = propagate_uncertainty("X*abs(X)", {"X": (0.5, 0.1)}, method="second-order")["y"]
    assert out.value == pytest.approx(0.26, rel=1e-14)
    assert out.std**2 == pytest.approx(0.0102, rel=1e-14)
