"""First-order propagation over arrays of measurements: N rows of input estimates with
their uncertainties (and optional per-row covariance) in one vectorised call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from propagate.errors import CovarianceError, QuantityError, ShapeError
from propagate.uncertainty.correlation import (
    as_square_matrix,
    check_correlation,
    correlation_from_pairs,
)
from propagate.uncertainty.model import Model, as_graph
from propagate.uncertainty.propagation import check_reserved

_TOLERANCE = 1e-10


@dataclass(frozen=True)
class ArrayResult:
    """First-order results for N rows of measurements.

    Attributes
    ----------
    names : tuple of str
        The m outputs.
    values : numpy.ndarray, shape (N, m)
    stds : numpy.ndarray, shape (N, m)
    covariance : numpy.ndarray, shape (N, m, m)
    jacobian : numpy.ndarray, shape (N, m, n)
        Sensitivity coefficients per row, columns in the model's input order.
    """

    names: tuple[str, ...]
    values: np.ndarray
    stds: np.ndarray
    covariance: np.ndarray
    jacobian: np.ndarray

    @property
    def correlation(self) -> np.ndarray:
        """The output correlation matrices, shape (N, m, m); 0 where a std is 0."""
        outer = self.stds[:, :, None] * self.stds[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            correlation = np.where(outer > 0, self.covariance / outer, 0.0)
        index = np.arange(len(self.names))
        correlation[:, index, index] = 1.0
        return np.clip(correlation, -1.0, 1.0)


def propagate_arrays(
    model,
    values: Mapping[str, object],
    stds: Mapping[str, object] | None = None,
    *,
    correlations=None,
    covariance=None,
    outputs=None,
) -> ArrayResult:
    """Propagate N rows of input estimates and uncertainties to first order at once.

    Each row is an independent measurement: Σ_y[k] = J[k] Σ_x[k] J[k]ᵀ with the Jacobian
    compiled once and evaluated over all rows in one vectorised call, and the products
    done by ``numpy.einsum``.

    Parameters
    ----------
    model : Graph, dict, list of str or str
        As for :func:`propagate.uncertainty.propagate_uncertainty`.
    values : mapping
        Input name -> estimates, shape (N,) or scalar (broadcast to every row).
    stds : mapping, optional
        Input name -> standard uncertainties, shape (N,) or scalar. Required unless
        ``covariance`` is given.
    correlations : mapping or array_like, optional
        ``{(a, b): r}`` pairs or a matrix of shape (n, n) for every row, or (N, n, n) per
        row, in the order of ``values``.
    covariance : array_like, optional
        Per-row covariance matrices, shape (N, n, n) or (n, n), in the order of
        ``values``; they replace ``stds`` and ``correlations``.
    outputs : sequence of str, optional
        Nodes to report; by default those no other node uses.

    Raises
    ------
    ShapeError
        If the arrays do not have one common length N.
    QuantityError, CovarianceError
        For non-finite values, negative uncertainties or a matrix that is not symmetric
        positive semi-definite (naming the row).
    """
    model = Model(as_graph(model), outputs)
    names = tuple(str(name) for name in values)
    missing = [name for name in model.inputs if name not in values]
    if missing:
        raise QuantityError(f"model input {missing[0]!r} has no values; add it to values")
    check_reserved([name for name in names if name not in model.inputs])

    estimates, count = _stack_rows(values, names, "values")
    if not np.all(np.isfinite(estimates)):
        row, column = np.argwhere(~np.isfinite(estimates))[0]
        raise QuantityError(f"value of {names[column]} in row {row} is not finite")

    if covariance is not None:
        if correlations is not None or stds is not None:
            raise CovarianceError("give covariance alone, without stds or correlations")
        input_covariance = _row_covariance(covariance, names, count)
    else:
        if stds is None:
            raise QuantityError("give stds (or covariance) for the inputs")
        spreads, spread_count = _stack_rows(stds, names, "stds", count)
        if not np.all(np.isfinite(spreads) & (spreads >= 0)):
            row, column = np.argwhere(~(np.isfinite(spreads) & (spreads >= 0)))[0]
            raise QuantityError(
                f"standard uncertainty of {names[column]} in row {row} is "
                f"{spreads[row, column]}; give a finite number >= 0"
            )
        correlation = _row_correlation(correlations, names, count)
        input_covariance = correlation * spreads[:, :, None] * spreads[:, None, :]

    order = [names.index(name) for name in model.inputs]
    estimates = estimates[:, order]
    input_covariance = input_covariance[:, order][:, :, order]

    columns = [estimates[:, i] for i in range(len(order))]
    with np.errstate(all="ignore"):
        output_values, jacobian = model.values_and_jacobian(*columns)
    m, n = len(model.outputs), len(order)
    output_values = np.moveaxis(np.broadcast_to(output_values, (m, count)), 0, 1)
    jacobian = np.moveaxis(np.broadcast_to(jacobian, (m, n, count)), 2, 0)
    _check_finite_rows(model, output_values, jacobian)
    output_covariance = np.einsum("kai,kij,kbj->kab", jacobian, input_covariance, jacobian)
    output_stds = np.sqrt(np.clip(np.einsum("kaa->ka", output_covariance), 0.0, None))
    return ArrayResult(model.outputs, output_values, output_stds, output_covariance, jacobian)


def _check_finite_rows(model, output_values, jacobian) -> None:
    """Raise QuantityError naming the first row where an output or a sensitivity
    coefficient is NaN or infinite, e.g. a division by zero in that row."""
    bad_values = ~np.isfinite(output_values)
    if np.any(bad_values):
        row, a = np.argwhere(bad_values)[0]
        raise QuantityError(
            f"output {model.outputs[a]} is {output_values[row, a]} in row {row}; check the "
            "model and that row's values"
        )
    bad_sensitivities = ~np.isfinite(jacobian)
    if np.any(bad_sensitivities):
        row, a, i = np.argwhere(bad_sensitivities)[0]
        raise QuantityError(
            f"sensitivity coefficient of {model.outputs[a]} to {model.inputs[i]} is "
            f"{jacobian[row, a, i]} in row {row} (the model is not differentiable there); "
            "check the model and that row's values"
        )


def _stack_rows(mapping, names, kind, count=None) -> tuple[np.ndarray, int]:
    """Stack per-input arrays into shape (N, n), broadcasting scalars."""
    arrays = []
    for name in names:
        if name not in mapping:
            raise QuantityError(f"{kind} has no entry for input {name!r}")
        try:
            array = np.asarray(mapping[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise QuantityError(f"{kind} of {name} are not numbers") from None
        if array.ndim > 1:
            raise ShapeError(f"{kind} of {name} have shape {array.shape}; expected (N,)")
        arrays.append(array)
    lengths = {array.shape[0] for array in arrays if array.ndim == 1}
    if count is not None:
        lengths.add(count)
    if len(lengths) > 1:
        raise ShapeError(
            f"{kind} have rows of different lengths {sorted(lengths)}; give every input "
            "the same number N of rows"
        )
    count = lengths.pop() if lengths else 1
    stacked = np.stack([np.broadcast_to(array, (count,)) for array in arrays], axis=1)
    return stacked, count


def _row_correlation(correlations, names, count) -> np.ndarray:
    n = len(names)
    if correlations is None:
        return np.broadcast_to(np.eye(n), (count, n, n))
    if isinstance(correlations, Mapping):
        matrix = check_correlation(correlation_from_pairs(names, correlations), names)
        return np.broadcast_to(matrix, (count, n, n))
    matrix = np.asarray(correlations, dtype=np.float64)
    if matrix.ndim == 2:
        return np.broadcast_to(check_correlation(matrix, names), (count, n, n))
    stack = _check_stack(matrix, names, count, "correlation")
    diagonal = np.einsum("kii->ki", stack)
    if np.any(np.abs(diagonal - 1.0) > _TOLERANCE) or np.any(np.abs(stack) > 1 + _TOLERANCE):
        row = int(
            np.argwhere(
                np.any(np.abs(diagonal - 1.0) > _TOLERANCE, axis=1)
                | np.any(np.abs(stack) > 1 + _TOLERANCE, axis=(1, 2))
            )[0, 0]
        )
        raise CovarianceError(
            f"correlation matrix of row {row} has a diagonal entry other than 1 or a "
            "coefficient outside [-1, 1]"
        )
    return stack


def _row_covariance(covariance, names, count) -> np.ndarray:
    n = len(names)
    matrix = np.asarray(covariance, dtype=np.float64)
    if matrix.ndim == 2:
        from propagate.uncertainty.correlation import check_covariance

        matrix = check_covariance(as_square_matrix(matrix, names, "covariance"), names)
        return np.broadcast_to(matrix, (count, n, n))
    return _check_stack(matrix, names, count, "covariance")


def _check_stack(stack, names, count, kind) -> np.ndarray:
    """Check a stack of (N, n, n) matrices for symmetry and positive semi-definiteness."""
    n = len(names)
    if stack.shape != (count, n, n):
        raise ShapeError(
            f"{kind} matrices have shape {stack.shape}; expected ({count}, {n}, {n}) for "
            f"{count} rows and the inputs {', '.join(names)}"
        )
    if not np.all(np.isfinite(stack)):
        raise CovarianceError(f"{kind} matrices contain NaN or infinite entries")
    scale = np.maximum(np.abs(stack).max(axis=(1, 2)), np.finfo(float).tiny)
    asymmetric = np.abs(stack - np.swapaxes(stack, 1, 2)).max(axis=(1, 2)) > _TOLERANCE * scale
    if np.any(asymmetric):
        row = int(np.flatnonzero(asymmetric)[0])
        raise CovarianceError(f"{kind} matrix of row {row} is not symmetric")
    smallest = np.linalg.eigvalsh(stack)[:, 0]
    negative = smallest < -_TOLERANCE * scale
    if np.any(negative):
        row = int(np.flatnonzero(negative)[0])
        raise CovarianceError(
            f"{kind} matrix of row {row} is not positive semi-definite (smallest eigenvalue "
            f"{smallest[row]:.3g}); check the correlations in that row"
        )
    return (stack + np.swapaxes(stack, 1, 2)) / 2.0
