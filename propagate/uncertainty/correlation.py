"""Correlation and covariance matrices of the inputs: building them from pairs or a full
matrix, and checking that they are symmetric positive semi-definite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from propagate.errors import CovarianceError

# Relative tolerance for symmetry and for eigenvalues that are negative by round-off only.
_TOLERANCE = 1e-10


def correlation_from_pairs(
    names: Sequence[str], pairs: Mapping[tuple[str, str], float]
) -> np.ndarray:
    """Build the correlation matrix of ``names`` from ``{(a, b): r_ab}``.

    Pairs not listed are uncorrelated. A pair may be given in either order, but not twice
    with different coefficients.

    Raises
    ------
    CovarianceError
        For an unknown name, a pair of one name with itself, a coefficient outside
        [-1, 1], or a pair given twice with different values. The matrix itself is not
        checked here; call :func:`check_correlation`.
    """
    index = {name: i for i, name in enumerate(names)}
    matrix = np.eye(len(names))
    for pair, coefficient in pairs.items():
        if isinstance(pair, str) or len(pair) != 2:
            raise CovarianceError(
                f"correlation key {pair!r} is not a pair of input names; write ('V', 'I')"
            )
        a, b = pair
        for name in (a, b):
            if name not in index:
                raise CovarianceError(
                    f"correlation between {a} and {b} names {name!r}, which is not an input; "
                    f"inputs are {', '.join(names)}"
                )
        if a == b:
            raise CovarianceError(f"correlation of {a} with itself is always 1; remove it")
        r = check_coefficient(coefficient, a, b)
        i, j = index[a], index[b]
        if matrix[i, j] != 0.0 and matrix[i, j] != r:
            raise CovarianceError(
                f"correlation between {a} and {b} is given twice ({matrix[i, j]} and {r}); "
                "give it once"
            )
        matrix[i, j] = matrix[j, i] = r
    return matrix


def check_coefficient(coefficient, a: str, b: str) -> float:
    """Return ``coefficient`` as a float, or raise CovarianceError if it is outside
    [-1, 1]."""
    try:
        r = float(coefficient)
    except (TypeError, ValueError):
        raise CovarianceError(
            f"correlation between {a} and {b} is {coefficient!r}; give a number in [-1, 1]"
        ) from None
    if not (-1.0 <= r <= 1.0):
        raise CovarianceError(
            f"correlation between {a} and {b} is {r}; a correlation coefficient must lie in [-1, 1]"
        )
    return r


def as_square_matrix(matrix, names: Sequence[str], kind: str) -> np.ndarray:
    """Return ``matrix`` as a float64 array of shape (n, n) for the n ``names``."""
    try:
        array = np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise CovarianceError(f"{kind} matrix is not numeric") from None
    n = len(names)
    if array.shape != (n, n):
        raise CovarianceError(
            f"{kind} matrix has shape {array.shape}; expected ({n}, {n}) for the inputs "
            f"{', '.join(names)} in that order"
        )
    if not np.all(np.isfinite(array)):
        raise CovarianceError(f"{kind} matrix contains NaN or infinite entries")
    return array


def check_correlation(matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Check a correlation matrix: unit diagonal, entries in [-1, 1], symmetric, positive
    semi-definite. Return it (symmetrised to remove round-off)."""
    matrix = as_square_matrix(matrix, names, "correlation")
    diagonal = np.diag(matrix)
    bad = np.flatnonzero(np.abs(diagonal - 1.0) > _TOLERANCE)
    if bad.size:
        name = names[bad[0]]
        raise CovarianceError(
            f"correlation matrix has {diagonal[bad[0]]} on the diagonal for {name}; "
            "the diagonal of a correlation matrix is 1 (pass a covariance matrix instead?)"
        )
    rows, cols = np.nonzero(np.abs(matrix) > 1.0 + _TOLERANCE)
    if rows.size:
        i, j = rows[0], cols[0]
        check_coefficient(matrix[i, j], names[i], names[j])
    return check_covariance(matrix, names, kind="correlation")


def check_covariance(matrix, names: Sequence[str], kind: str = "covariance") -> np.ndarray:
    """Check that a covariance (or correlation) matrix is symmetric positive semi-definite.

    Returns
    -------
    numpy.ndarray
        The matrix, symmetrised to remove round-off.

    Raises
    ------
    CovarianceError
        Naming the largest asymmetry, a negative variance, or the smallest eigenvalue and
        the two inputs that weigh most in its eigenvector.
    """
    matrix = as_square_matrix(matrix, names, kind)
    scale = float(np.max(np.abs(matrix))) if matrix.size else 0.0
    tolerance = _TOLERANCE * max(scale, np.finfo(float).tiny)

    asymmetry = np.abs(matrix - matrix.T)
    if asymmetry.size and asymmetry.max() > tolerance:
        i, j = np.unravel_index(np.argmax(asymmetry), asymmetry.shape)
        raise CovarianceError(
            f"{kind} matrix is not symmetric: entry ({names[i]}, {names[j]}) is "
            f"{matrix[i, j]} but ({names[j]}, {names[i]}) is {matrix[j, i]}"
        )
    matrix = (matrix + matrix.T) / 2.0

    negative = np.flatnonzero(np.diag(matrix) < 0)
    if negative.size:
        i = negative[0]
        raise CovarianceError(
            f"{kind} matrix has a negative variance {matrix[i, i]} for {names[i]}"
        )

    if len(names) < 2:
        return matrix
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    smallest = float(eigenvalues[0])
    if smallest < -tolerance:
        weights = np.abs(eigenvectors[:, 0])
        first, second = np.argsort(weights)[::-1][:2]
        pair = sorted((int(first), int(second)))
        raise CovarianceError(
            f"{kind} matrix is not positive semi-definite (smallest eigenvalue "
            f"{smallest:.3g}); check the correlation between {names[pair[0]]} and "
            f"{names[pair[1]]}"
        )
    return matrix


def covariance_from_correlation(stds: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """Return the covariance matrix u_i r_ij u_j."""
    stds = np.asarray(stds, dtype=np.float64)
    return correlation * np.outer(stds, stds)


def correlation_from_covariance(covariance: np.ndarray) -> np.ndarray:
    """Return the correlation matrix of ``covariance``; rows with zero variance get r = 0
    off the diagonal and 1 on it."""
    stds = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = covariance / np.outer(stds, stds)
    zero = stds == 0
    correlation[zero, :] = 0.0
    correlation[:, zero] = 0.0
    np.fill_diagonal(correlation, 1.0)
    return np.clip(correlation, -1.0, 1.0)


def is_diagonal(matrix: np.ndarray) -> bool:
    """Return True if every off-diagonal entry of ``matrix`` is zero."""
    return not np.any(matrix - np.diag(np.diag(matrix)))


def stds_from_covariance(covariance: np.ndarray) -> np.ndarray:
    """Return the standard uncertainties, the square roots of the diagonal."""
    return np.sqrt(np.clip(np.diag(covariance), 0.0, None))


__all__ = [
    "as_square_matrix",
    "check_coefficient",
    "check_correlation",
    "check_covariance",
    "correlation_from_covariance",
    "correlation_from_pairs",
    "covariance_from_correlation",
    "is_diagonal",
    "stds_from_covariance",
]
