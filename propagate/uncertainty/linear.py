"""First-order propagation (JCGM 100:2008, 5.1 and 5.2): Σ_y = J Σ_x Jᵀ for one or several
outputs, with a budget, effective degrees of freedom and expanded uncertainty per output."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from propagate.uncertainty.budget import build_budget, coverage_factor, effective_dof
from propagate.uncertainty.correlation import correlation_from_covariance
from propagate.uncertainty.result import OutputResult, UncertaintyResult


def first_order(
    input_names: Sequence[str],
    values: np.ndarray,
    stds: np.ndarray,
    dofs: np.ndarray,
    correlation: np.ndarray,
    output_names: Sequence[str],
    output_values: np.ndarray,
    jacobian: np.ndarray,
    level: float = 0.95,
    groups: Sequence[str | None] | None = None,
) -> UncertaintyResult:
    """Propagate to first order given the Jacobian at the input estimates.

    Parameters
    ----------
    input_names : sequence of str
        The n inputs.
    values, stds, dofs : numpy.ndarray, shape (n,)
        Input estimates, standard uncertainties and degrees of freedom.
    correlation : numpy.ndarray, shape (n, n)
        The inputs' correlation matrix, already checked.
    output_names : sequence of str
        The m outputs.
    output_values : numpy.ndarray, shape (m,)
        The model evaluated at the input estimates.
    jacobian : numpy.ndarray, shape (m, n)
        The sensitivity coefficients ∂f_a/∂x_i at the estimates.
    level : float
        Coverage probability of the intervals.
    groups : sequence of str or None, optional
        Each input's Type A group, for the effective degrees of freedom
        (:func:`propagate.uncertainty.budget.effective_dof`).

    Returns
    -------
    UncertaintyResult
    """
    jacobian = np.asarray(jacobian, dtype=np.float64).reshape(len(output_names), len(values))
    terms = jacobian * stds
    covariance, correlation_out = output_covariance(terms, correlation)

    outputs = []
    for a, name in enumerate(output_names):
        rows, std = build_budget(input_names, values, stds, dofs, jacobian[a], correlation)
        outputs.append(
            make_output(
                name,
                float(output_values[a]),
                std,
                terms[a],
                dofs,
                level,
                rows,
                correlation=correlation,
                groups=groups,
            )
        )
    return UncertaintyResult(
        method="linear",
        outputs=tuple(outputs),
        covariance=covariance,
        correlation=correlation_out,
    )


def output_covariance(terms: np.ndarray, correlation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the output covariance T R Tᵀ and correlation matrices, where the rows of
    ``terms`` are c_i u(x_i) per output and R is the inputs' correlation matrix.

    Each output's row is divided by its largest term first, so the correlation stays exact
    where a covariance entry underflows (u ≈ 1e-200). Such a covariance entry is then 0.
    """
    scales = np.max(np.abs(terms), axis=1, initial=0.0)
    scales = np.where(scales > 0, scales, 1.0)
    scaled = terms / scales[:, None]
    scaled_covariance = scaled @ correlation @ scaled.T
    # An overflow here is reported by build_budget with the output's variance.
    with np.errstate(over="ignore", under="ignore"):
        covariance = scaled_covariance * np.outer(scales, scales)
    return covariance, correlation_from_covariance(scaled_covariance)


def make_output(
    name: str,
    value: float,
    std: float,
    terms: np.ndarray,
    dofs: np.ndarray,
    level: float,
    budget: list,
    details: dict | None = None,
    exact_variance: float = 0.0,
    correlation: np.ndarray | None = None,
    groups: Sequence[str | None] | None = None,
) -> OutputResult:
    """Assemble one output: u_c = ``std``, ν_eff by Welch-Satterthwaite from the
    first-order terms c_i u_i with Type A ``groups`` combined (and ``exact_variance``,
    which has infinite degrees of freedom), k from ν_eff, U = k u_c and the interval
    y ± U."""
    if correlation is None:
        correlation = np.eye(len(terms))
    dof = effective_dof(terms, dofs, correlation, groups, exact_variance)
    k = coverage_factor(level, dof)
    expanded = k * std
    return OutputResult(
        name=name,
        value=value,
        std=std,
        dof=dof,
        k=k,
        expanded=expanded,
        interval=(value - expanded, value + expanded),
        level=level,
        budget=budget,
        details=details or {},
    )
