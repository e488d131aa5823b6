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
    shares of all rows add up to 1; correlation rows may have negative shares. When
    u_c² is 0, every share is 0. When correlations cancel most of the variance, shares
    grow far beyond 1 with opposite signs, and near an exact cancellation they carry
    mostly round-off.
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
    (rows, std)
        The budget rows and the combined standard uncertainty u_c, the square root of the
        sum of the rows' variance terms.

    Raises
    ------
    QuantityError
        If u_c² exceeds the float64 range.
    """
    terms = sensitivities * stds

    # Every term is divided by the largest |c_i u_i| (or √extra_variance) before it is
    # squared, so that u_c and the shares stay exact where c_i² u_i² would underflow to 0
    # (u ≈ 1e-200) or overflow.
    scale = max(float(np.max(np.abs(terms), initial=0.0)), math.sqrt(max(extra_variance, 0.0)))
    unit = scale if scale > 0 else 1.0
    scaled = terms / unit
    scaled_extra = extra_variance / unit / unit

    # Off-diagonal terms of c Σ cᵀ: each unordered pair once, doubled (GUM 5.2.2, eq. 16).
    pair_terms = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = float(correlation[i, j])
            if r != 0.0:
                pair_terms.append((i, j, r, 2.0 * scaled[i] * scaled[j] * r))

    scaled_variance = float(np.sum(scaled * scaled) + sum(t[3] for t in pair_terms) + scaled_extra)
    # Round-off can leave a tiny negative variance when correlations cancel exactly.
    std = unit * math.sqrt(max(scaled_variance, 0.0))
    if not math.isfinite(std * std):
        raise QuantityError(
            f"the variance of the output is {std:.3g}² and exceeds the float64 range; "
            "express the model in units that keep the numbers below about 1e150"
        )

    def share_of(scaled_term: float) -> float:
        return float(scaled_term / scaled_variance) if scaled_variance > 0 else 0.0

    rows = [
        BudgetRow(
            input=name,
            value=float(values[i]),
            std=float(stds[i]),
            sensitivity=float(sensitivities[i]),
            contribution=float(abs(terms[i])),
            variance=float(terms[i] * terms[i]),
            share=share_of(scaled[i] * scaled[i]),
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
                variance=float(term * unit * unit),
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
                share=share_of(scaled_extra),
            )
        )
    return rows, std


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
    in GUM H.2, where every ν_i is 4), which no input supports. Inputs evaluated from the
    same readings are better combined first into one component by
    :func:`effective_dof`. Willink (Metrologia 44 (2007) 340) derives a formula for
    correlated inputs in general that this does not implement.
    """
    contributions = np.abs(np.asarray(contributions, dtype=np.float64))
    dofs = np.asarray(dofs, dtype=np.float64)
    largest = max(float(contributions.max(initial=0.0)), math.sqrt(max(exact_variance, 0.0)))
    if largest == 0.0:
        return math.inf

    # Scaled by the largest contribution, so that the fourth powers of tiny or huge
    # contributions neither underflow to 0 nor overflow.
    scaled = contributions / largest
    finite = np.isfinite(dofs)
    denominator = float(np.sum(scaled[finite] ** 4 / dofs[finite]))
    if denominator == 0.0:
        return math.inf
    variance = float(np.sum(scaled**2)) + exact_variance / largest / largest
    return variance * variance / denominator


def effective_dof(
    terms: np.ndarray,
    dofs: np.ndarray,
    correlation: np.ndarray,
    groups: Sequence[str | None] | None = None,
    exact_variance: float = 0.0,
) -> float:
    """Return the effective degrees of freedom of one output, with Type A groups.

    Inputs outside any group each give one component c_i u(x_i) with their own degrees of
    freedom. The inputs of one Type A group (means of the same n simultaneous readings)
    give one component with variance Σ_ij c_i c_j u_i u_j r_ij over the group and the
    group's n - 1 degrees of freedom. That is exact for a linear model, because Σ_i c_i x̄_i
    is then the mean of the n values Σ_i c_i x_ik, whose variance estimate has n - 1
    degrees of freedom. GUM H.2 gets the same 4 degrees of freedom for R, X and Z from
    5 readings (approach 1). The components then enter :func:`welch_satterthwaite`.

    Parameters
    ----------
    terms : numpy.ndarray, shape (n,)
        The products c_i u(x_i) of sensitivity coefficient and standard uncertainty.
    dofs : numpy.ndarray, shape (n,)
        The inputs' degrees of freedom.
    correlation : numpy.ndarray, shape (n, n)
        The inputs' correlation matrix.
    groups : sequence of str or None, optional
        Each input's Type A group label, None outside any group.
    exact_variance : float
        Further variance with infinite degrees of freedom.
    """
    terms = np.asarray(terms, dtype=np.float64)
    dofs = np.asarray(dofs, dtype=np.float64)
    if groups is None:
        groups = (None,) * len(terms)

    contributions = []
    component_dofs = []
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        if group is None:
            contributions.append(abs(terms[i]))
            component_dofs.append(dofs[i])
        else:
            members.setdefault(group, []).append(i)
    for index in members.values():
        scale = float(np.max(np.abs(terms[index])))
        if scale == 0.0:
            continue
        # Scaled by the largest term, so that tiny or huge terms neither underflow nor
        # overflow when squared.
        scaled = terms[index] / scale
        variance = float(scaled @ correlation[np.ix_(index, index)] @ scaled)
        contributions.append(scale * math.sqrt(max(variance, 0.0)))
        component_dofs.append(dofs[index[0]])
    return welch_satterthwaite(np.array(contributions), np.array(component_dofs), exact_variance)


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
