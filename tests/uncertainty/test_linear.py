"""First-order propagation against closed forms written out by hand (JCGM 100:2008, 5.1)."""

import math

import numpy as np
import pytest

from propagate.errors import CovarianceError, GraphError, QuantityError
from propagate.uncertainty import Quantity, propagate_uncertainty

A = (2.5, 0.03)
B = (0.8, 0.02)


def std(model, inputs, correlations=None):
    return propagate_uncertainty(model, inputs, correlations)["y"].std


def test_scaled():
    assert std("7.5*A", {"A": A}) == pytest.approx(7.5 * 0.03, rel=1e-14)


@pytest.mark.parametrize("r", [-0.9, -0.3, 0.0, 0.5, 1.0])
def test_sum_correlated(r):
    expected = math.sqrt(0.03**2 + 0.02**2 + 2 * r * 0.03 * 0.02)
    assert std("A + B", {"A": A, "B": B}, {("A", "B"): r}) == pytest.approx(expected, rel=1e-13)


def test_product():
    expected = 2.5 * 0.8 * math.hypot(0.03 / 2.5, 0.02 / 0.8)
    assert std("A*B", {"A": A, "B": B}) == pytest.approx(expected, rel=1e-13)


def test_quotient():
    expected = 2.5 / 0.8 * math.hypot(0.03 / 2.5, 0.02 / 0.8)
    assert std("A/B", {"A": A, "B": B}) == pytest.approx(expected, rel=1e-13)


def test_power():
    expected = 2.5**1.7 * 1.7 * 0.03 / 2.5
    assert std("A^1.7", {"A": A}) == pytest.approx(expected, rel=1e-13)


def test_log():
    assert std("log(A)", {"A": A}) == pytest.approx(0.03 / 2.5, rel=1e-14)


def test_exp():
    assert std("exp(A)", {"A": A}) == pytest.approx(math.exp(2.5) * 0.03, rel=1e-14)


def test_value_is_model_at_estimates():
    result = propagate_uncertainty("A/B", {"A": A, "B": B})
    assert result["y"].value == pytest.approx(2.5 / 0.8, rel=1e-15)


def test_output_covariance():
    # Cov(A + B, A - B) = u_A² - u_B² for independent A and B.
    result = propagate_uncertainty(["s = A + B", "d = A - B"], {"A": A, "B": B})
    assert result.covariance[0, 1] == pytest.approx(0.03**2 - 0.02**2, rel=1e-13)
    assert result.correlation[0, 1] == pytest.approx(
        (0.03**2 - 0.02**2) / (0.03**2 + 0.02**2), rel=1e-13
    )


def test_shares_sum_to_one():
    result = propagate_uncertainty("A*B", {"A": A, "B": B}, {("A", "B"): -0.7})
    shares = [row.share for row in result["y"].budget]
    assert sum(shares) == pytest.approx(1.0, rel=1e-13)
    assert [row.input for row in result["y"].budget] == ["A", "B", "A,B"]
    assert shares[2] < 0


def test_budget_row_terms():
    row = propagate_uncertainty("3*A", {"A": A})["y"].budget[0]
    assert row.sensitivity == pytest.approx(3.0, rel=1e-15)
    assert row.contribution == pytest.approx(0.09, rel=1e-14)
    assert row.share == pytest.approx(1.0, rel=1e-15)


def test_coverage_normal():
    # Normal quantile for 95 %: 1.959964 (two-sided).
    out = propagate_uncertainty("A", {"A": A})["y"]
    assert out.k == pytest.approx(1.959964, abs=1e-6)
    assert out.expanded == pytest.approx(out.k * 0.03, rel=1e-15)
    assert out.interval[0] == pytest.approx(2.5 - out.expanded, rel=1e-15)


def test_coverage_t_dof():
    # Student t, 4 degrees of freedom, 95 % two-sided: 2.776 (GUM Table G.2).
    out = propagate_uncertainty("2*A", {"A": Quantity(2.5, 0.03, dof=4)})["y"]
    assert out.dof == pytest.approx(4.0, rel=1e-14)
    assert round(out.k, 3) == 2.776


def test_welch_satterthwaite():
    # GUM G.4.1 by hand: two equal contributions with 4 and 8 degrees of freedom.
    inputs = {"A": Quantity(1.0, 0.1, dof=4), "B": Quantity(1.0, 0.1, dof=8)}
    out = propagate_uncertainty("A + B", inputs)["y"]
    expected = (0.01 + 0.01) ** 2 / (0.1**4 / 4 + 0.1**4 / 8)
    assert out.dof == pytest.approx(expected, rel=1e-13)


def test_inputs_forms_agree():
    forms = [
        {"V": "5.000(10)", "I": "0.02000(10)"},
        {"V": (5.0, 0.01), "I": (0.02, 0.0001)},
        {"V": Quantity(5.0, 0.01), "I": "0.02±0.0001"},
    ]
    stds = [propagate_uncertainty("V/I", inputs)["y"].std for inputs in forms]
    assert stds[0] == pytest.approx(stds[1], rel=1e-15)
    assert stds[0] == pytest.approx(stds[2], rel=1e-15)


def test_correlation_matrix_input():
    pairs = propagate_uncertainty("A*B", {"A": A, "B": B}, {("A", "B"): 0.4})["y"].std
    matrix = propagate_uncertainty("A*B", {"A": A, "B": B}, [[1, 0.4], [0.4, 1]])["y"].std
    assert pairs == pytest.approx(matrix, rel=1e-15)


def test_covariance_input():
    covariance = np.array([[0.03**2, 0.4 * 0.03 * 0.02], [0.4 * 0.03 * 0.02, 0.02**2]])
    result = propagate_uncertainty("A*B", {"A": 2.5, "B": 0.8}, covariance=covariance)
    pairs = propagate_uncertainty("A*B", {"A": A, "B": B}, {("A", "B"): 0.4})
    assert result["y"].std == pytest.approx(pairs["y"].std, rel=1e-13)


def test_callable_package():
    import propagate

    assert propagate.uncertainty("2*A", {"A": A})["y"].std == pytest.approx(0.06, rel=1e-14)


def test_missing_input_rejected():
    with pytest.raises(QuantityError, match="'B'"):
        propagate_uncertainty("A*B", {"A": A})


def test_not_psd_rejected():
    inputs = {"V": A, "I": B, "phi": (1.0, 0.01)}
    pairs = {("V", "I"): 0.9, ("V", "phi"): 0.9, ("I", "phi"): -0.9}
    with pytest.raises(CovarianceError, match="positive semi-definite"):
        propagate_uncertainty("V*I*phi", inputs, pairs)


def test_unknown_method_rejected():
    with pytest.raises(QuantityError, match="unknown method"):
        propagate_uncertainty("A", {"A": A}, method="quadratic")


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1])
def test_level_rejected(level):
    with pytest.raises(QuantityError, match="coverage probability"):
        propagate_uncertainty("A", {"A": A}, level=level)


def test_unknown_output_rejected():
    with pytest.raises(GraphError, match="'Q'"):
        propagate_uncertainty({"Z": "V/I"}, {"V": A, "I": B}, outputs=["Q"])


def test_intermediate_nodes_hidden():
    result = propagate_uncertainty(["g = V/I", "R = g*2"], {"V": A, "I": B})
    assert result.names == ("R",)


@pytest.mark.parametrize("dof", [1, 2.5, 4, 7.1, 30, math.inf])
def test_coverage_factor_matches_scipy(dof):
    from scipy import stats

    from propagate.uncertainty import coverage_factor

    expected = stats.norm.ppf(0.975) if math.isinf(dof) else stats.t.ppf(0.975, dof)
    assert coverage_factor(0.95, dof) == pytest.approx(expected, rel=1e-12)


def test_graph_change_recompiles():
    from propagate.symbolic import Graph

    graph = Graph()
    (a,) = graph.add_inputs("A")
    graph.add_node("y", 2 * a)
    assert propagate_uncertainty(graph, {"A": A})["y"].std == pytest.approx(0.06, rel=1e-14)
    graph.add_node("z", 3 * a)
    result = propagate_uncertainty(graph, {"A": A})
    assert result["z"].std == pytest.approx(0.09, rel=1e-14)


def test_non_finite_output_rejected():
    with pytest.raises(QuantityError, match="output y is"):
        propagate_uncertainty("log(A)", {"A": (0.0, 0.1)})


def test_non_differentiable_point_rejected():
    with pytest.raises(QuantityError, match="sensitivity coefficient of y to A"):
        propagate_uncertainty("sqrt(A)", {"A": (0.0, 0.1)})


@pytest.mark.parametrize("name", ["e", "pi"])
def test_constant_name_input_rejected(name):
    # In a model "e" is Euler's number, so an input named e would be silently ignored.
    with pytest.raises(QuantityError, match=f"input name '{name}' is reserved"):
        propagate_uncertainty(f"{name}*2", {name: (1.0, 0.1)})


def test_unused_input_warns(caplog):
    with caplog.at_level("WARNING"):
        propagate_uncertainty("A", {"A": (1.0, 0.1), "B": (2.0, 0.1)})
    assert "not used by the model: B" in caplog.text


def test_tiny_uncertainty_kept():
    # u² = 1e-400 underflows in float64; u itself does not.
    out = propagate_uncertainty("2*A", {"A": (1.0, 1e-200)})["y"]
    assert out.std == pytest.approx(2e-200, rel=1e-14)
    assert out.budget[0].share == pytest.approx(1.0)


def test_tiny_uncertainty_keeps_dof():
    out = propagate_uncertainty("A", {"A": Quantity(1.0, 1e-200, dof=4)})["y"]
    assert out.dof == pytest.approx(4.0)


def test_tiny_uncertainties_correlation():
    result = propagate_uncertainty(
        {"S": "A + B", "D": "A - B"}, {"A": (1.0, 3e-200), "B": (1.0, 1e-200)}
    )
    # r(S, D) = (uA² - uB²)/(uA² + uB²) = 0.8.
    assert result.correlation[0, 1] == pytest.approx(0.8, rel=1e-12)


def test_overflowing_variance_rejected():
    with pytest.raises(QuantityError, match="float64 range"):
        propagate_uncertainty("A*1e200", {"A": (1e100, 1e99)})
