"""First-order propagation (JCGM 100:2008, 5.1 and 5.2): Σ_y = J Σ_x Jᵀ for one or several
outputs, with a budget, effective degrees of freedom and expanded uncertainty per output."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from propagate.uncertainty.budget import build_budget, coverage_factor, welch_satterthwaite
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

    Returns
    -------
    UncertaintyResult
    """
    jacobian = np.asarray(jacobian, dtype=np.float64).reshape(len(output_names), len(values))
    input_covariance = correlation * np.outer(stds, stds)
    covariance = jacobian @ input_covariance @ jacobian.T

    outputs = []
    for a, name in enumerate(output_names):
        rows, variance = build_budget(input_names, values, stds, dofs, jacobian[a], correlation)
        outputs.append(
            make_output(
                name, float(output_values[a]), variance, jacobian[a] * stds, dofs, level, rows
            )
        )
    return UncertaintyResult(
        method="linear",
        outputs=tuple(outputs),
        covariance=covariance,
        correlation=correlation_from_covariance(covariance),
    )


def make_output(
    name: str,
    value: float,
    variance: float,
    terms: np.ndarray,
    dofs: np.ndarray,
    level: float,
    budget: list,
    details: dict | None = None,
    exact_variance: float = 0.0,
) -> OutputResult:
    """Assemble one output: u_c = √variance, ν_eff by Welch-Satterthwaite from the
    first-order terms c_i u_i (and ``exact_variance``, which has infinite degrees of
    freedom), k from ν_eff, U = k u_c and the interval y ± U."""
    # Round-off can leave a tiny negative variance when correlations cancel exactly.
    std = math.sqrt(max(variance, 0.0))
    dof = welch_satterthwaite(terms, dofs, exact_variance)
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
