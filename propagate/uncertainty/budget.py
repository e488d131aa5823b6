"""Uncertainty budget of one output: sensitivity coefficients, contributions, shares of the
variance, effective degrees of freedom (Welch-Satterthwaite) and the coverage factor."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from propagate.errors import QuantityError


@dataclass(frozen=True)
class BudgetRow:
    """One line of an uncertainty budget.

    An input row has the input's estimate ``value``, standard uncertainty ``std``, the
    sensitivity coefficient c_i = ∂f/∂x_i, the contribution |c_i| u(x_i) and the variance
    term c_i² u²(x_i). A correlation row, named ``"A,B"``, has the variance term
    2 c_A c_B u(x_A) u(x_B) r(x_A, x_B), the coefficient r in ``correlation``, and None for
    the per-input fields. A "second order" row has the Hessian terms of second-order
    propagation. ``share`` is the variance term divided by the output variance u_c², so the
    shares of all rows add up to 1; correlation rows may have negative shares.
    """

    input: str
    value: float | None
    std: float | None
    sensitivity: float | None
    contribution: float | None
    variance: float
    share: float
    correlation: float | None = None
    dof: float | None = None

    def to_dict(self) -> dict:
        """Return the row as JSON-ready data (infinite ``dof`` becomes None)."""
        row = {
            "input": self.input,
            "value": self.value,
            "std": self.std,
            "sensitivity": self.sensitivity,
            "contribution": self.contribution,
            "share": self.share,
            "variance": self.variance,
        }
        if self.correlation is not None:
            row["correlation"] = self.correlation
        if self.value is not None:
            row["dof"] = None if self.dof is None or math.isinf(self.dof) else self.dof
        return row


def build_budget(
    names: Sequence[str],
    values: np.ndarray,
    stds: np.ndarray,
    dofs: np.ndarray,
    sensitivities: np.ndarray,
    correlation: np.ndarray,
    extra_variance: float = 0.0,
    extra_label: str = "second order",
) -> tuple[list[BudgetRow], float]:
    """Build the first-order budget of one output.

    Parameters
    ----------
    names, values, stds, dofs
        The inputs' names, estimates, standard uncertainties and degrees of freedom.
    sensitivities : numpy.ndarray, shape (n,)
        The sensitivity coefficients c_i = ∂f/∂x_i at the estimates.
    correlation : numpy.ndarray, shape (n, n)
        The inputs' correlation matrix.
    extra_variance : float
        A variance term beyond first order (second-order propagation); when non-zero it
        gets its own row named ``extra_label``.

    Returns
    -------
    (rows, variance)
        The budget rows and the output variance u_c², their sum.
    """
    terms = sensitivities * stds
    input_variances = terms * terms

    # Off-diagonal terms of c Σ cᵀ: each unordered pair once, doubled (GUM 5.2.2, eq. 16).
    pair_terms = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = float(correlation[i, j])
            if r != 0.0:
                pair_terms.append((i, j, r, 2.0 * terms[i] * terms[j] * r))

    variance = float(input_variances.sum() + sum(t[3] for t in pair_terms) + extra_variance)
    share_of = _share_function(variance)

    rows = [
        BudgetRow(
            input=name,
            value=float(values[i]),
            std=float(stds[i]),
            sensitivity=float(sensitivities[i]),
            contribution=float(abs(terms[i])),
            variance=float(input_variances[i]),
            share=share_of(input_variances[i]),
            dof=float(dofs[i]),
        )
        for i, name in enumerate(names)
    ]
    for i, j, r, term in pair_terms:
        rows.append(
            BudgetRow(
                input=f"{names[i]},{names[j]}",
                value=None,
                std=None,
                sensitivity=None,
                contribution=None,
                variance=float(term),
                share=share_of(term),
                correlation=r,
            )
        )
    if extra_variance != 0.0:
        rows.append(
            BudgetRow(
                input=extra_label,
                value=None,
                std=None,
                sensitivity=None,
                contribution=None,
                variance=float(extra_variance),
                share=share_of(extra_variance),
            )
        )
    return rows, variance


def _share_function(variance: float):
    if variance > 0:
        return lambda term: float(term / variance)
    return lambda term: 0.0


def welch_satterthwaite(
    contributions: np.ndarray, dofs: np.ndarray, exact_variance: float = 0.0
) -> float:
    """Return the effective degrees of freedom by the Welch-Satterthwaite formula
    ν_eff = u⁴ / Σ (c_i u_i)⁴ / ν_i (JCGM 100:2008, G.4.1, equation G.2b).

    Parameters
    ----------
    contributions : numpy.ndarray
        The first-order contributions |c_i| u(x_i).
    dofs : numpy.ndarray
        Their degrees of freedom ν_i; infinite ones add nothing to the denominator.
    exact_variance : float
        Further variance with infinite degrees of freedom (second-order terms).

    Returns
    -------
    float
        ν_eff, infinite when no contribution with finite degrees of freedom is non-zero.

    Notes
    -----
    The GUM states the formula for independent inputs. For correlated inputs this applies
    it to the uncorrelated terms: u² = Σ (c_i u_i)² + ``exact_variance``, leaving out the
    correlation terms 2 c_i c_j u_i u_j r_ij. With the correlated u_c² in the numerator
    instead, strong negative correlations make ν_eff fall far below every ν_i (0.13 for R
    in GUM H.2, where every ν_i is 4), which no input supports. Willink (Metrologia 44
    (2007) 340) derives a formula for correlated inputs that this does not implement.
    """
    contributions = np.abs(np.asarray(contributions, dtype=np.float64))
    dofs = np.asarray(dofs, dtype=np.float64)
    finite = np.isfinite(dofs)
    denominator = float(np.sum(contributions[finite] ** 4 / dofs[finite]))
    if denominator == 0.0:
        return math.inf
    variance = float(np.sum(contributions**2)) + exact_variance
    return variance * variance / denominator


def coverage_factor(level: float, dof: float) -> float:
    """Return k for a coverage probability ``level``: the two-sided t quantile for ``dof``
    degrees of freedom, or the normal quantile when ``dof`` is infinite (GUM G.3, G.6.4).

    Non-integer ``dof`` is used as is, not truncated, which GUM G.4.1 note 1 allows as
    interpolation.
    """
    check_level(level)
    quantile = 0.5 + level / 2.0
    # scipy.special's quantile functions give the same numbers as scipy.stats.norm.ppf and
    # scipy.stats.t.ppf without the import time of scipy.stats.
    if math.isinf(dof):
        return float(special.ndtri(quantile))
    return float(special.stdtrit(dof, quantile))


def check_level(level) -> float:
    """Return ``level`` as a float, or raise QuantityError unless 0 < level < 1."""
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise QuantityError(f"coverage probability {level!r} is not a number") from None
    if not (0.0 < level < 1.0):
        raise QuantityError(
            f"coverage probability is {level}; give a number strictly between 0 and 1, e.g. 0.95"
        )
    return level
