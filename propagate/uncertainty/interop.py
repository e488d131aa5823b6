"""Interoperation with the ``uncertainties`` package: UFloat inputs (with their correlations)
in, correlated UFloat results out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import uncertainties

from propagate.uncertainty.correlation import correlation_from_covariance
from propagate.uncertainty.quantity import Quantity


def is_ufloat(obj) -> bool:
    """Return True for a number with uncertainty from the ``uncertainties`` package."""
    return isinstance(obj, uncertainties.UFloat)


def from_ufloats(numbers: Mapping[str, uncertainties.UFloat]) -> tuple[dict, np.ndarray]:
    """Convert UFloats to Quantities and the correlation matrix among them.

    Correlations that the UFloats already carry, because they share underlying
    variables, are taken from ``uncertainties.covariance_matrix``. The quantities are
    normal with infinite degrees of freedom, because UFloats carry neither.

    Returns
    -------
    (quantities, correlation)
        A dict name -> Quantity in the order of ``numbers``, and their correlation matrix.
    """
    names = list(numbers)
    values = [numbers[name] for name in names]
    covariance = np.array(uncertainties.covariance_matrix(values), dtype=np.float64)
    quantities = {
        name: Quantity(number.nominal_value, number.std_dev, name=name)
        for name, number in zip(names, values, strict=True)
    }
    return quantities, correlation_from_covariance(covariance.reshape(len(names), len(names)))


def to_ufloats(result) -> dict[str, uncertainties.UFloat]:
    """Convert an :class:`~propagate.uncertainty.result.UncertaintyResult` to correlated
    UFloats with the result's values and output covariance matrix, keyed by output name."""
    return correlated_ufloats(result.names, result.values, result.covariance)


def correlated_ufloats(
    names: Sequence[str], values: np.ndarray, covariance: np.ndarray
) -> dict[str, uncertainties.UFloat]:
    """Return UFloats with ``values`` and the joint ``covariance``, tagged with ``names``
    (``uncertainties.correlated_values``)."""
    numbers = uncertainties.correlated_values(
        [float(v) for v in values], np.asarray(covariance, dtype=np.float64), tags=list(names)
    )
    return dict(zip(names, numbers, strict=True))
