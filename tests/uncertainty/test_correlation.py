"""Correlation input: pairs, matrices and the positive semi-definite check."""

import numpy as np
import pytest

from propagate.errors import CovarianceError
from propagate.uncertainty.correlation import (
    check_correlation,
    check_covariance,
    correlation_from_pairs,
)

NAMES = ("V", "I", "phi")


def test_pairs_fill_both_triangles():
    matrix = correlation_from_pairs(NAMES, {("V", "I"): -0.36, ("phi", "V"): 0.86})
    assert matrix[0, 1] == matrix[1, 0] == -0.36
    assert matrix[0, 2] == matrix[2, 0] == 0.86
    assert matrix[1, 2] == 0.0


@pytest.mark.parametrize("rho", [1.2, -1.0001, float("nan"), "high"])
def test_pairs_reject_coefficient(rho):
    with pytest.raises(CovarianceError, match=r"\[-1, 1\]"):
        correlation_from_pairs(NAMES, {("V", "I"): rho})


def test_pairs_reject_unknown_name():
    with pytest.raises(CovarianceError, match="'T'"):
        correlation_from_pairs(NAMES, {("V", "T"): 0.1})


def test_pairs_reject_self():
    with pytest.raises(CovarianceError, match="itself"):
        correlation_from_pairs(NAMES, {("V", "V"): 0.5})


def test_pairs_reject_conflict():
    with pytest.raises(CovarianceError, match="twice"):
        correlation_from_pairs(NAMES, {("V", "I"): 0.5, ("I", "V"): 0.4})


def test_not_psd_names_pair():
    # r(V,I) = r(V,phi) = 0.9 forces r(I,phi) >= 0.62; -0.9 is impossible.
    matrix = correlation_from_pairs(NAMES, {("V", "I"): 0.9, ("V", "phi"): 0.9, ("I", "phi"): -0.9})
    with pytest.raises(CovarianceError, match="not positive semi-definite") as info:
        check_correlation(matrix, NAMES)
    assert "smallest eigenvalue" in str(info.value)
    assert "check the correlation between" in str(info.value)


def test_psd_singular_accepted():
    matrix = np.ones((2, 2))
    assert np.array_equal(check_correlation(matrix, ("a", "b")), matrix)


def test_asymmetric_rejected():
    matrix = np.array([[1.0, 0.2], [0.3, 1.0]])
    with pytest.raises(CovarianceError, match="not symmetric"):
        check_correlation(matrix, ("a", "b"))


def test_correlation_diagonal_rejected():
    with pytest.raises(CovarianceError, match="diagonal"):
        check_correlation(np.diag([1.0, 2.0]), ("a", "b"))


def test_covariance_shape_rejected():
    with pytest.raises(CovarianceError, match=r"\(2, 2\)"):
        check_covariance(np.eye(3), ("a", "b"))


def test_negative_variance_rejected():
    with pytest.raises(CovarianceError, match="negative variance"):
        check_covariance(np.diag([1.0, -1.0]), ("a", "b"))
