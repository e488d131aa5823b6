"""Second-order propagation for independent normal inputs (JCGM 100:2008, 5.1.2 note):
Hessian terms added to the estimate and the variance."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from propagate.errors import QuantityError
from propagate.uncertainty.budget import build_budget
from propagate.uncertainty.correlation import correlation_from_covariance, is_diagonal
from propagate.uncertainty.linear import make_output
from propagate.uncertainty.result import UncertaintyResult

logger = logging.getLogger(__name__)


def second_order(
    input_names: Sequence[str],
    values: np.ndarray,
    stds: np.ndarray,
    dofs: np.ndarray,
    correlation: np.ndarray,
    output_names: Sequence[str],
    output_values: np.ndarray,
    jacobian: np.ndarray,
    hessians: np.ndarray,
    third: np.ndarray,
    level: float = 0.95,
    distributions: Sequence[str] | None = None,
    groups: Sequence[str | None] | None = None,
) -> UncertaintyResult:
    """Propagate to second order given first, second and third derivatives.

    With δ = x - E[x] independent normal, the second-order Taylor terms give, for outputs
    a and b,

    - estimate: y_a = f_a(x) + ½ Σ_i H^a_ii u_i²
    - covariance: c_a Σ c_bᵀ + Σ_ij [½ H^a_ij H^b_ij + ½ (c^a_i T^b_ijj + c^b_i T^a_ijj)]
      u_i² u_j²

    where c = ∂f/∂x, H_ij = ∂²f/∂x_i∂x_j and T_ijj = ∂³f/∂x_i∂x_j². For a = b these are
    the terms of the GUM 5.1.2 note, including its third-derivative term. Other
    third-order terms and all higher-order terms are left out.

    Parameters
    ----------
    hessians : numpy.ndarray, shape (m, n, n)
        Second derivatives of each output at the estimates.
    third : numpy.ndarray, shape (m, n, n)
        ``third[a, i, j]`` = ∂³f_a/∂x_i∂x_j² at the estimates.
    distributions : sequence of str, optional
        The inputs' distributions; a warning is logged for any that is not normal.
    groups : sequence of str or None, optional
        Each input's Type A group, for the effective degrees of freedom.

    Other parameters are those of :func:`propagate.uncertainty.linear.first_order`.

    Raises
    ------
    QuantityError
        If any two inputs are correlated: these formulas hold for independent inputs only.
    """
    if not is_diagonal(correlation):
        rows, cols = np.nonzero(correlation - np.eye(len(input_names)))
        raise QuantityError(
            "second-order propagation supports independent inputs only, but "
            f"{input_names[rows[0]]} and {input_names[cols[0]]} are correlated; use "
            "Monte Carlo (method='monte-carlo', --method monte-carlo) for a non-linear model "
            "with correlated inputs"
        )
    for name, distribution in zip(input_names, distributions or (), strict=False):
        if distribution != "normal":
            logger.warning(
                "second-order terms assume normal inputs; %s is %s, so its fourth-moment "
                "term is approximate (use Monte Carlo to check)",
                name,
                distribution,
            )

    m, n = len(output_names), len(input_names)
    jacobian = np.asarray(jacobian, dtype=np.float64).reshape(m, n)
    hessians = np.asarray(hessians, dtype=np.float64).reshape(m, n, n)
    third = np.asarray(third, dtype=np.float64).reshape(m, n, n)
    variances = stds * stds
    weights = np.outer(variances, variances)

    shifts = 0.5 * np.einsum("aii,i->a", hessians, variances)
    hessian_terms = 0.5 * np.einsum("aij,bij,ij->ab", hessians, hessians, weights)
    mixed = np.einsum("ai,bij,ij->ab", jacobian, third, weights)
    extra = hessian_terms + 0.5 * (mixed + mixed.T)
    covariance = jacobian @ np.diag(variances) @ jacobian.T + extra

    outputs = []
    for a, name in enumerate(output_names):
        rows, std = build_budget(
            input_names,
            values,
            stds,
            dofs,
            jacobian[a],
            correlation,
            extra_variance=float(extra[a, a]),
        )
        details = {
            "first_order_value": float(output_values[a]),
            "mean_shift": float(shifts[a]),
            "second_order_variance": float(extra[a, a]),
        }
        # NOTE: the second-order variance terms are treated as having infinite degrees of
        # freedom in Welch-Satterthwaite, since the GUM gives no rule for them.
        outputs.append(
            make_output(
                name,
                float(output_values[a] + shifts[a]),
                std,
                jacobian[a] * stds,
                dofs,
                level,
                rows,
                details,
                exact_variance=float(extra[a, a]),
                correlation=correlation,
                groups=groups,
            )
        )
    return UncertaintyResult(
        method="second-order",
        outputs=tuple(outputs),
        covariance=covariance,
        correlation=correlation_from_covariance(covariance),
    )
