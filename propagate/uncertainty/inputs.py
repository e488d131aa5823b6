"""Collection of uncertain inputs from the forms users give them: Quantity, (value, std),
text such as ``4.9990(32)``, UFloat or a plain number, with correlations as pairs, a
matrix, a covariance matrix, or those UFloats carry."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from propagate.errors import CovarianceError, QuantityError
from propagate.uncertainty.correlation import (
    as_square_matrix,
    check_correlation,
    check_covariance,
    correlation_from_covariance,
    correlation_from_pairs,
)
from propagate.uncertainty.interop import from_ufloats, is_ufloat
from propagate.uncertainty.quantity import Quantity


@dataclass(frozen=True)
class InputSet:
    """Input quantities in a fixed order with their checked correlation matrix."""

    names: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    correlation: np.ndarray

    @property
    def values(self) -> np.ndarray:
        """The input estimates."""
        return np.array([q.value for q in self.quantities])

    @property
    def stds(self) -> np.ndarray:
        """The standard uncertainties."""
        return np.array([q.std for q in self.quantities])

    @property
    def dofs(self) -> np.ndarray:
        """The degrees of freedom."""
        return np.array([q.dof for q in self.quantities])

    @property
    def distributions(self) -> tuple[str, ...]:
        """The distributions."""
        return tuple(q.distribution for q in self.quantities)

    @property
    def groups(self) -> tuple[str | None, ...]:
        """The Type A group of each input; None for an input outside any group."""
        return tuple(q.group for q in self.quantities)

    def select(self, names: Sequence[str]) -> InputSet:
        """Return the inputs ``names`` in that order.

        Raises
        ------
        QuantityError
            If one of ``names`` is missing.
        """
        index = {name: i for i, name in enumerate(self.names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise QuantityError(
                f"model input {missing[0]!r} has no value with uncertainty; add it to the "
                f"inputs (given: {', '.join(self.names) or 'none'})"
            )
        order = [index[name] for name in names]
        return InputSet(
            tuple(names),
            tuple(self.quantities[i] for i in order),
            self.correlation[np.ix_(order, order)],
        )


def to_quantity(name: str, entry) -> Quantity:
    """Convert one input in any accepted form to a named Quantity.

    Accepts a Quantity, a ``(value, std)`` pair, text (``"4.9990(32)"``,
    ``"4.9990±0.0032"``) or a plain number, which is exact (std 0).
    """
    if isinstance(entry, Quantity):
        return entry.with_name(name)
    if isinstance(entry, str):
        return Quantity.parse(entry, name=name)
    if isinstance(entry, (tuple, list)):
        if len(entry) != 2:
            raise QuantityError(f"input {name!r} is {entry!r}; give (value, standard uncertainty)")
        return Quantity(entry[0], entry[1], name=name)
    if isinstance(entry, (int, float, np.integer, np.floating)) and not isinstance(entry, bool):
        return Quantity(entry, 0.0, name=name)
    raise QuantityError(
        f"input {name!r} is a {type(entry).__name__}; give a Quantity, (value, std), text "
        "such as '4.9990(32)', a UFloat or a number"
    )


def collect_inputs(inputs: Mapping, correlations=None, covariance=None) -> InputSet:
    """Collect inputs and their correlations into one checked InputSet.

    Parameters
    ----------
    inputs : mapping
        Name -> Quantity, (value, std), text, UFloat or number.
    correlations : mapping or array_like, optional
        ``{(a, b): r}`` pairs, or a full correlation matrix in the order of ``inputs``.
        Pairs are added to the correlations that UFloat inputs carry; a matrix replaces
        them.
    covariance : array_like, optional
        A full covariance matrix in the order of ``inputs``; it sets the standard
        uncertainties and the correlations. An input's own non-zero uncertainty must then
        agree with the diagonal.

    Raises
    ------
    QuantityError, CovarianceError
        For an invalid input, coefficient or matrix.
    """
    if not isinstance(inputs, Mapping):
        raise QuantityError(
            f"inputs is a {type(inputs).__name__}; give a dict name -> value with uncertainty"
        )
    names = tuple(str(name) for name in inputs)
    quantities = {}
    ufloats = {}
    for name, entry in inputs.items():
        if is_ufloat(entry):
            ufloats[str(name)] = entry
        else:
            quantities[str(name)] = to_quantity(str(name), entry)

    correlation = np.eye(len(names))
    if ufloats:
        converted, ufloat_correlation = from_ufloats(ufloats)
        quantities.update(converted)
        index = [names.index(name) for name in ufloats]
        correlation[np.ix_(index, index)] = ufloat_correlation
    ordered = [quantities[name] for name in names]

    if covariance is not None:
        if correlations is not None:
            raise CovarianceError("give either correlations or covariance, not both")
        ordered, correlation = _apply_covariance(names, ordered, covariance)
    elif isinstance(correlations, Mapping):
        pairs = correlation_from_pairs(names, correlations)
        listed = np.abs(pairs - np.eye(len(names))) > 0
        correlation[listed] = pairs[listed]
    elif correlations is not None:
        correlation = as_square_matrix(correlations, names, "correlation")

    correlation = check_correlation(correlation, names)
    _check_groups(ordered)
    return InputSet(names, tuple(ordered), correlation)


def _check_groups(quantities: Sequence[Quantity]) -> None:
    """Raise QuantityError if two inputs of one Type A group differ in degrees of freedom
    or distribution, since the group is treated as one component with one of each."""
    first_of_group: dict[str, Quantity] = {}
    for quantity in quantities:
        if quantity.group is None:
            continue
        first = first_of_group.setdefault(quantity.group, quantity)
        if (first.dof, first.distribution) != (quantity.dof, quantity.distribution):
            raise QuantityError(
                f"inputs {first.name!r} and {quantity.name!r} are in the Type A group "
                f"{quantity.group!r} but have different degrees of freedom or distributions "
                f"({first.dof}, {first.distribution} and {quantity.dof}, "
                f"{quantity.distribution}); give every input of a group the same"
            )


def _apply_covariance(names, quantities, covariance):
    matrix = check_covariance(as_square_matrix(covariance, names, "covariance"), names)
    stds = np.sqrt(np.diag(matrix))
    updated = []
    for quantity, std in zip(quantities, stds, strict=True):
        if quantity.std != 0.0 and not math.isclose(quantity.std, std, rel_tol=1e-9):
            raise CovarianceError(
                f"input {quantity.name!r} has standard uncertainty {quantity.std} but the "
                f"covariance matrix gives {std}; give the value alone or make them agree"
            )
        updated.append(
            Quantity(
                quantity.value,
                std,
                quantity.dof,
                quantity.distribution,
                quantity.name,
                quantity.group,
            )
        )
    return updated, correlation_from_covariance(matrix)
