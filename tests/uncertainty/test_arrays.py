"""Vectorised propagation over rows of measurements against a loop of scalar calls."""

import numpy as np
import pytest

from propagate.errors import CovarianceError, QuantityError, ShapeError
from propagate.uncertainty import propagate_arrays, propagate_uncertainty

MODEL = {"R": "V/I*cos(phi)", "X": "V/I*sin(phi)"}
N = 25


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    values = {
        "V": rng.uniform(4, 6, N),
        "I": rng.uniform(0.01, 0.03, N),
        "phi": rng.uniform(0.5, 1.5, N),
    }
    stds = {
        "V": rng.uniform(1e-3, 1e-2, N),
        "I": rng.uniform(1e-5, 1e-4, N),
        "phi": rng.uniform(1e-4, 1e-3, N),
    }
    return values, stds


def loop(values, stds, pairs=None):
    results = []
    for k in range(N):
        inputs = {name: (values[name][k], stds[name][k]) for name in values}
        results.append(propagate_uncertainty(MODEL, inputs, pairs))
    return results


def test_independent_rows(rows):
    values, stds = rows
    result = propagate_arrays(MODEL, values, stds)
    expected = loop(values, stds)
    assert result.values.shape == (N, 2)
    assert np.allclose(result.values, [r.values for r in expected], rtol=1e-13, atol=0)
    assert np.allclose(result.stds, [r.stds for r in expected], rtol=1e-12, atol=0)
    assert np.allclose(result.covariance, [r.covariance for r in expected], rtol=1e-11, atol=1e-14)


def test_correlated_rows(rows):
    values, stds = rows
    pairs = {("V", "I"): -0.36, ("V", "phi"): 0.86, ("I", "phi"): -0.65}
    result = propagate_arrays(MODEL, values, stds, correlations=pairs)
    expected = loop(values, stds, pairs)
    assert np.allclose(result.stds, [r.stds for r in expected], rtol=1e-12, atol=0)
    assert np.allclose(
        result.correlation, [r.correlation for r in expected], rtol=1e-10, atol=1e-12
    )


def test_row_covariance(rows):
    values, stds = rows
    names = list(values)
    rng = np.random.default_rng(1)
    factors = rng.normal(size=(N, 3, 3)) * np.array([1e-3, 1e-5, 1e-4])[None, :, None]
    covariance = factors @ np.swapaxes(factors, 1, 2)
    result = propagate_arrays(MODEL, values, covariance=covariance)
    for k in (0, N - 1):
        inputs = {name: values[name][k] for name in names}
        single = propagate_uncertainty(MODEL, inputs, covariance=covariance[k])
        assert np.allclose(result.covariance[k], single.covariance, rtol=1e-11, atol=1e-16)


def test_scalar_broadcast(rows):
    values, stds = rows
    stds = dict(stds, phi=5e-4)
    result = propagate_arrays(MODEL, values, stds)
    assert result.stds.shape == (N, 2)


def test_length_mismatch_rejected(rows):
    values, stds = rows
    with pytest.raises(ShapeError, match="same number"):
        propagate_arrays(MODEL, dict(values, V=values["V"][:3]), stds)


def test_bad_row_covariance_named():
    covariance = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])
    with pytest.raises(CovarianceError, match="row 1"):
        propagate_arrays("A*B", {"A": [1.0, 2.0], "B": [3.0, 4.0]}, covariance=covariance)


def test_negative_std_named():
    with pytest.raises(Exception, match="B in row 1"):
        propagate_arrays(
            "A*B", {"A": [1.0, 2.0], "B": [3.0, 4.0]}, {"A": [0.1, 0.1], "B": [0.1, -0.1]}
        )


def test_non_finite_row_named():
    with pytest.raises(QuantityError, match="row 1"):
        propagate_arrays("V/I", {"V": [1.0, 2.0], "I": [2.0, 0.0]}, {"V": 0.1, "I": 0.1})


def test_constant_name_rejected():
    with pytest.raises(QuantityError, match="reserved"):
        propagate_arrays("2*e", {"e": [1.0, 2.0]}, {"e": 0.1})
