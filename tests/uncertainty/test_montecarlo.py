"""Monte Carlo propagation (JCGM 101:2008) against analytic results, within sampling error."""

import math

import numpy as np
import pytest
from scipy import stats

from propagate.errors import QuantityError
from propagate.uncertainty import Quantity, propagate_uncertainty
from propagate.uncertainty.montecarlo import (
    coverage_intervals,
    draw_inputs,
    significant_digit_tolerance,
    validate_first_order,
)

M = 200_000


def test_linear_model_mean_and_std():
    # y = 2A - 3B + C with r(A, B) = 0.5: u² = 4uA² + 9uB² + uC² - 12 r uA uB.
    inputs = {"A": (1.0, 0.1), "B": (2.0, 0.05), "C": (0.5, 0.2)}
    sd = math.sqrt(4 * 0.01 + 9 * 0.0025 + 0.04 - 12 * 0.5 * 0.1 * 0.05)
    out = propagate_uncertainty(
        "2*A - 3*B + C", inputs, {("A", "B"): 0.5}, method="monte-carlo", samples=M, seed=11
    )["y"]
    assert out.value == pytest.approx(2 - 6 + 0.5, abs=5 * sd / math.sqrt(M))
    assert out.std == pytest.approx(sd, abs=5 * sd / math.sqrt(2 * M))


def test_linear_model_interval():
    out = propagate_uncertainty(
        "A + B", {"A": (1.0, 0.3), "B": (0.0, 0.4)}, method="monte-carlo", samples=M, seed=5
    )["y"]
    # Standard error of the 2.5 % quantile: √(p(1-p)/M) / φ(z_p) standard deviations.
    error = math.sqrt(0.025 * 0.975 / M) / stats.norm.pdf(1.959964) * 0.5
    assert out.interval[0] == pytest.approx(1.0 - 1.959964 * 0.5, abs=5 * error)
    assert out.interval[1] == pytest.approx(1.0 + 1.959964 * 0.5, abs=5 * error)


def test_linear_model_validated():
    out = propagate_uncertainty(
        "A + B",
        {"A": (1.0, 0.3), "B": (0.0, 0.4)},
        method="monte-carlo",
        samples=10**6,
        seed=5,
        digits=1,
    )["y"]
    assert out.details["validation"]["adequate"] is True


def test_nonlinear_model_not_validated():
    # exp of a wide normal is strongly skewed; first order misses the interval.
    out = propagate_uncertainty(
        "exp(X)", {"X": (0.0, 0.5)}, method="monte-carlo", samples=M, seed=2
    )["y"]
    check = out.details["validation"]
    assert check["adequate"] is False
    assert check["d_high"] > check["delta"]


def test_shortest_interval_skewed():
    # For a lognormal the shortest 95 % interval lies left of the symmetric one.
    out = propagate_uncertainty(
        "exp(X)", {"X": (0.0, 0.5)}, method="monte-carlo", samples=M, seed=2
    )["y"]
    short = out.details["shortest_interval"]
    assert short[1] - short[0] < out.interval[1] - out.interval[0]
    assert short[0] < out.interval[0]


def test_seed_reproducible():
    args = ("A*B", {"A": (1.0, 0.1), "B": (2.0, 0.1)})
    first = propagate_uncertainty(*args, method="monte-carlo", samples=1000, seed=7)
    second = propagate_uncertainty(*args, method="monte-carlo", samples=1000, seed=7)
    assert first["y"].value == second["y"].value


def test_rectangular_draws():
    q = Quantity.rectangular(1.0, 0.5)
    draws = draw_inputs([q], np.eye(1), M, np.random.default_rng(1))[0]
    assert draws.min() >= 0.5
    assert draws.max() <= 1.5
    assert draws.std() == pytest.approx(q.std, rel=5 * math.sqrt(0.8 / (4 * M)))


def test_correlated_normal_draws():
    correlation = np.array([[1.0, -0.6], [-0.6, 1.0]])
    qs = [Quantity(0.0, 1.0), Quantity(5.0, 2.0)]
    draws = draw_inputs(qs, correlation, M, np.random.default_rng(4))
    r = np.corrcoef(draws)[0, 1]
    assert r == pytest.approx(-0.6, abs=5 * (1 - 0.36) / math.sqrt(M))
    assert draws[1].std() == pytest.approx(2.0, rel=5 / math.sqrt(2 * M))


def test_copula_rectangular_correlation():
    # Gaussian copula with normal r maps to Pearson (6/π) arcsin(r/2) for uniform margins.
    correlation = np.array([[1.0, 0.8], [0.8, 1.0]])
    qs = [Quantity.rectangular(0.0, 1.0), Quantity.rectangular(0.0, 1.0)]
    draws = draw_inputs(qs, correlation, M, np.random.default_rng(9))
    expected = 6 / math.pi * math.asin(0.4)
    assert np.corrcoef(draws)[0, 1] == pytest.approx(expected, abs=5 / math.sqrt(M))
    assert np.abs(draws).max() <= 1.0


def test_copula_triangular_margin():
    correlation = np.array([[1.0, 0.5], [0.5, 1.0]])
    qs = [Quantity.triangular(2.0, 1.0), Quantity(0.0, 1.0)]
    draws = draw_inputs(qs, correlation, M, np.random.default_rng(3))
    result = stats.kstest(draws[0], stats.triang(c=0.5, loc=1.0, scale=2.0).cdf)
    assert result.pvalue > 1e-4


def test_t_draws_scale():
    # JCGM 101 6.4.9: x + u·t_ν has standard deviation u √(ν/(ν-2)).
    q = Quantity(0.0, 1.0, dof=10, distribution="t")
    draws = draw_inputs([q], np.eye(1), M, np.random.default_rng(6))[0]
    assert draws.std() == pytest.approx(math.sqrt(10 / 8), rel=0.01)


def test_coverage_intervals_indices():
    # JCGM 101 7.7.1 with M = 100, p = 0.9: q = 90, r = 5, interval [y_(5), y_(95)].
    ordered = np.arange(1.0, 101.0)
    symmetric, shortest = coverage_intervals(ordered, 0.9)
    assert symmetric.tolist() == [5.0, 95.0]
    assert shortest[1] - shortest[0] == 90.0


def test_tolerance_from_digits():
    # JCGM 101 7.9.2 example: u = 0.0025 to one digit is 3 × 10⁻³, so δ = 0.0005.
    assert significant_digit_tolerance(0.0025, 1) == pytest.approx(0.0005)
    assert significant_digit_tolerance(0.071, 2) == pytest.approx(0.0005)


def test_validation_flags():
    check = validate_first_order(10.0, 1.0, 0.5, (9.0004, 11.0003), digits=2)
    assert check["adequate"] is True
    assert validate_first_order(10.0, 1.0, 0.5, (8.9, 11.0), digits=2)["adequate"] is False


def test_too_few_samples_rejected():
    with pytest.raises(QuantityError, match="samples"):
        propagate_uncertainty("A", {"A": (1, 0.1)}, method="monte-carlo", samples=10)


def test_non_finite_output_rejected():
    with pytest.raises(QuantityError, match="non-finite"):
        propagate_uncertainty(
            "log(A)", {"A": (0.1, 1.0)}, method="monte-carlo", samples=1000, seed=1
        )


def test_samples_beyond_memory_rejected():
    # 10**14 draws need 800 TB, more than a 64-bit process can address.
    with pytest.raises(QuantityError, match="cannot allocate"):
        propagate_uncertainty("A", {"A": (1.0, 0.1)}, method="monte-carlo", samples=10**14)


@pytest.mark.parametrize("seed", [-1, 1.5, "1"])
def test_bad_seed_rejected(seed):
    with pytest.raises(QuantityError, match="seed"):
        propagate_uncertainty("A", {"A": (1.0, 0.1)}, method="monte-carlo", samples=100, seed=seed)


def test_endpoint_errors_match_theory():
    # Standard error of the 97.5 % quantile of M normal draws: √(p(1-p)/M) / φ(z_p).
    from propagate.uncertainty.montecarlo import endpoint_errors

    draws = np.random.default_rng(6).standard_normal(200_000)
    expected = math.sqrt(0.025 * 0.975 / 200_000) / stats.norm.pdf(1.959964)
    errors = endpoint_errors(draws, 0.95)
    for error in errors:
        assert 0.5 * expected < error < 2.0 * expected


def test_endpoint_errors_too_few_draws():
    from propagate.uncertainty.montecarlo import endpoint_errors

    assert np.all(np.isnan(endpoint_errors(np.arange(100.0), 0.95)))


def test_validation_stability():
    inputs = {"A": (1.0, 0.3)}
    few = propagate_uncertainty("A", inputs, method="monte-carlo", samples=1000, seed=1)
    many = propagate_uncertainty("A", inputs, method="monte-carlo", samples=10**6, seed=1, digits=1)
    assert few["y"].details["validation"]["stable"] is False
    assert many["y"].details["validation"]["stable"] is True
