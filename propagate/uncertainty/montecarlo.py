"""Monte Carlo propagation of distributions (JCGM 101:2008): drawing correlated inputs,
evaluating the model over the draws in chunks, coverage intervals, and the check of the
first-order result against Monte Carlo (JCGM 101:2008, section 8)."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from tqdm import tqdm

from propagate.errors import QuantityError
from propagate.uncertainty.quantity import Quantity

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100_000

# Blocks into which the draws are split to estimate how much the interval ends would
# move with other draws, as in the adaptive procedure of JCGM 101:2008, 7.9.4.
ERROR_BLOCKS = 10


@dataclass(frozen=True)
class MonteCarloSummary:
    """Statistics of the Monte Carlo draws of m outputs.

    Attributes
    ----------
    samples : int
        The number M of draws.
    means, stds : numpy.ndarray, shape (m,)
        Mean and standard deviation (ddof=1) of each output (JCGM 101, 7.6).
    covariance : numpy.ndarray, shape (m, m)
    symmetric, shortest : numpy.ndarray, shape (m, 2)
        Probabilistically symmetric and shortest coverage intervals (JCGM 101, 7.7).
    endpoint_errors : numpy.ndarray, shape (m, 2)
        Estimated standard errors of the ends of the symmetric interval from the spread
        over ``ERROR_BLOCKS`` blocks of draws; NaN when a block is too small for an
        interval.
    """

    samples: int
    means: np.ndarray
    stds: np.ndarray
    covariance: np.ndarray
    symmetric: np.ndarray
    shortest: np.ndarray
    endpoint_errors: np.ndarray


def draw_inputs(
    quantities: Sequence[Quantity],
    correlation: np.ndarray,
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``size`` joint samples of the inputs; returns shape (n, size).

    Independent inputs are drawn from their own distributions. Correlated normal inputs
    are ``x + u z`` with ``z`` standard normals correlated through the eigen-decomposition
    of the correlation matrix, which, unlike Cholesky, also works for a singular
    (positive semi-definite) matrix. Correlated non-normal inputs use a Gaussian copula:
    the correlated normal ``z`` is mapped to its probability Φ(z) and then through the
    input's quantile function.

    The "t" inputs of one Type A group (``Quantity.group``) are drawn from one
    multivariate t distribution: ``x_i + u_i z_i √(ν/w)`` with the correlated normals
    ``z`` and one chi-squared ``w`` with ν degrees of freedom per draw, shared by the
    group. That is the joint distribution of the means of n readings with ν = n - 1, and
    any linear combination of them is a scaled and shifted t with ν degrees of freedom.

    NOTE: with the copula the Pearson correlation of the non-normal draws is slightly
    smaller in magnitude than the requested coefficient (for two rectangular inputs,
    (6/π) arcsin(r/2) instead of r).
    """
    n = len(quantities)
    draws = np.empty((n, size))
    off_diagonal = correlation - np.eye(n)
    correlated = np.any(off_diagonal != 0.0, axis=1)
    t_groups = {q.group for q in quantities if q.group is not None and q.distribution == "t"}

    if np.any(correlated) or t_groups:
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        factor = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
        normals = factor @ rng.standard_normal((n, size))
    divisors = {}
    for group in sorted(t_groups):
        dof = next(q.dof for q in quantities if q.group == group)
        divisors[group] = np.sqrt(rng.chisquare(dof, size) / dof)

    for i, quantity in enumerate(quantities):
        if quantity.group in divisors:
            draws[i] = quantity.value + quantity.std * normals[i] / divisors[quantity.group]
        elif correlated[i]:
            draws[i] = _from_standard_normal(quantity, normals[i])
        else:
            draws[i] = _draw_independent(quantity, size, rng)
    return draws


def _draw_independent(quantity: Quantity, size: int, rng: np.random.Generator) -> np.ndarray:
    x, u = quantity.value, quantity.std
    if u == 0.0:
        return np.full(size, x)
    if quantity.distribution == "rectangular":
        a = quantity.half_width
        return rng.uniform(x - a, x + a, size)
    if quantity.distribution == "triangular":
        a = quantity.half_width
        return rng.triangular(x - a, x, x + a, size)
    if quantity.distribution == "t":
        return x + u * rng.standard_t(quantity.dof, size)
    return x + u * rng.standard_normal(size)


def _from_standard_normal(quantity: Quantity, z: np.ndarray) -> np.ndarray:
    x, u = quantity.value, quantity.std
    if quantity.distribution == "normal":
        return x + u * z

    probability = special.ndtr(z)
    if quantity.distribution == "rectangular":
        return x + quantity.half_width * (2.0 * probability - 1.0)
    if quantity.distribution == "triangular":
        # Quantile of the symmetric triangular distribution on [x - a, x + a].
        a = quantity.half_width
        lower = x - a + a * np.sqrt(2.0 * probability)
        upper = x + a - a * np.sqrt(2.0 * (1.0 - probability))
        return np.where(probability < 0.5, lower, upper)
    return x + u * special.stdtrit(quantity.dof, probability)


def run_monte_carlo(
    function: Callable[..., Sequence[np.ndarray]],
    output_names: Sequence[str],
    quantities: Sequence[Quantity],
    correlation: np.ndarray,
    samples: int,
    level: float = 0.95,
    seed: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
) -> MonteCarloSummary:
    """Draw ``samples`` inputs, evaluate ``function`` over them in chunks, and summarise.

    Parameters
    ----------
    function : callable
        ``function(*input_arrays)`` returns one array per output, vectorised over the
        draws (a compiled graph).
    output_names : sequence of str
        The m outputs, for messages.
    quantities : sequence of Quantity
        The inputs, in the argument order of ``function``.
    correlation : numpy.ndarray, shape (n, n)
        The inputs' correlation matrix, already checked.
    samples : int
        The number M of draws; at least 2 and at least 1/(1 - level) per JCGM 101, 7.2.
    seed : int, optional
        Seed of the numpy Generator; the draws depend on it and on ``chunk_size``.
    chunk_size : int
        Draws per vectorised call, which bounds memory use.
    progress : bool, optional
        Show a progress bar on standard error; by default only when it is a terminal.

    Raises
    ------
    QuantityError
        If ``samples`` is too small, ``seed`` is not an integer >= 0, the draws do not fit
        in memory, or a draw gives a non-finite output.
    """
    minimum = max(2, math.ceil(1.0 / (1.0 - level)))
    if not isinstance(samples, (int, np.integer)) or samples < minimum:
        raise QuantityError(
            f"Monte Carlo needs an integer number of samples >= {minimum} for coverage "
            f"probability {level}, got {samples!r}; JCGM 101 recommends 10**6"
        )
    if chunk_size < 1:
        raise QuantityError(f"chunk size is {chunk_size}; give a positive integer")

    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise QuantityError(f"Monte Carlo seed is {seed!r}; give an integer >= 0 or None")
    rng = np.random.default_rng(seed)
    # Every draw of every output is kept, because the coverage intervals need them sorted.
    try:
        outputs = np.empty((len(output_names), samples))
    except MemoryError:
        gib = len(output_names) * samples * 8 / 2**30
        raise QuantityError(
            f"Monte Carlo cannot allocate {samples} draws of {len(output_names)} output(s) "
            f"({gib:.3g} GiB); use fewer samples (JCGM 101 recommends 10**6)"
        ) from None
    show = sys.stderr.isatty() if progress is None else progress
    starts = range(0, samples, chunk_size)
    for start in tqdm(starts, desc="Monte Carlo", unit="chunk", disable=not show):
        size = min(chunk_size, samples - start)
        draws = draw_inputs(quantities, correlation, size, rng)
        with np.errstate(all="ignore"):
            values = function(*draws)
        for a, value in enumerate(values):
            outputs[a, start : start + size] = np.broadcast_to(value, (size,))

    finite = np.isfinite(outputs)
    if not np.all(finite):
        a = int(np.flatnonzero(~np.all(finite, axis=1))[0])
        count = int(np.sum(~finite[a]))
        raise QuantityError(
            f"Monte Carlo: {count} of {samples} draws give a non-finite {output_names[a]}, "
            "because the input distributions reach outside the model's domain (e.g. log "
            "or sqrt of a negative number); check the inputs' uncertainties"
        )
    logger.info("Monte Carlo: %d draws of %d outputs", samples, len(output_names))
    return summarise(outputs, level)


def summarise(outputs: np.ndarray, level: float) -> MonteCarloSummary:
    """Summarise draws of shape (m, M): means, standard deviations, covariance and the
    coverage intervals of JCGM 101:2008, 7.7."""
    outputs = np.atleast_2d(outputs)
    samples = outputs.shape[1]
    covariance = np.atleast_2d(np.cov(outputs, ddof=1))
    symmetric = np.empty((len(outputs), 2))
    shortest = np.empty((len(outputs), 2))
    errors = np.empty((len(outputs), 2))
    for a, draws in enumerate(outputs):
        ordered = np.sort(draws)
        symmetric[a], shortest[a] = coverage_intervals(ordered, level)
        errors[a] = endpoint_errors(draws, level)
    return MonteCarloSummary(
        samples=samples,
        means=outputs.mean(axis=1),
        stds=np.sqrt(np.diag(covariance)),
        covariance=covariance,
        symmetric=symmetric,
        shortest=shortest,
        endpoint_errors=errors,
    )


def endpoint_errors(draws: np.ndarray, level: float) -> np.ndarray:
    """Estimate the standard errors of the ends of the symmetric coverage interval.

    The draws, in the order drawn, are split into ``ERROR_BLOCKS`` blocks. The spread of
    the blocks' interval ends, divided by √h for h blocks, estimates the standard error
    of an end from all draws. Returns NaN for both ends when a block has fewer than
    1/(1 - level) draws, too few for an interval.
    """
    size = len(draws) // ERROR_BLOCKS
    if size < max(2, math.ceil(1.0 / (1.0 - level))):
        return np.full(2, np.nan)
    ends = np.array(
        [
            coverage_intervals(np.sort(draws[b * size : (b + 1) * size]), level)[0]
            for b in range(ERROR_BLOCKS)
        ]
    )
    return ends.std(axis=0, ddof=1) / math.sqrt(ERROR_BLOCKS)


def coverage_intervals(ordered: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the probabilistically symmetric and the shortest coverage intervals of the
    sorted draws ``ordered`` (JCGM 101:2008, 7.7.1 and 7.7.2)."""
    samples = len(ordered)
    q = level * samples
    q = int(q) if float(q).is_integer() else int(q + 0.5)
    q = min(max(q, 1), samples - 1)

    # 1-based index r of the lower end: (M - q)/2 when that is an integer, else
    # (M - q + 1)/2; the interval is [y_(r), y_(r+q)].
    r = (samples - q) // 2 if (samples - q) % 2 == 0 else (samples - q + 1) // 2
    r = max(r, 1)
    symmetric = np.array([ordered[r - 1], ordered[r + q - 1]])

    widths = ordered[q:] - ordered[:-q]
    low = int(np.argmin(widths))
    shortest = np.array([ordered[low], ordered[low + q]])
    return symmetric, shortest


def significant_digit_tolerance(std: float, digits: int = 2) -> float:
    """Return the numerical tolerance δ of JCGM 101:2008, 7.9.2: with u(y) written as
    c × 10^l, c having ``digits`` significant digits, δ = ½ × 10^l."""
    if std <= 0 or not math.isfinite(std):
        return 0.0
    place = math.floor(math.log10(std)) - (digits - 1)
    return 0.5 * 10.0**place


def validate_first_order(
    value: float,
    expanded: float,
    std: float,
    interval: Sequence[float],
    digits: int = 2,
    errors: Sequence[float] | None = None,
) -> dict:
    """Compare a first-order interval y ± U with a Monte Carlo coverage interval
    (JCGM 101:2008, 8.2).

    Parameters
    ----------
    errors : sequence of two floats, optional
        Standard errors of the Monte Carlo interval ends (:func:`endpoint_errors`).

    Returns
    -------
    dict
        ``d_low`` = |y - U - y_low|, ``d_high`` = |y + U - y_high|, the tolerance
        ``delta`` from ``digits`` significant digits of u(y), ``digits``, and ``adequate``,
        True when both distances are at most δ. With ``errors``, also ``error_low`` and
        ``error_high`` (None when unknown) and ``stable``: True when twice each error is
        at most δ, the condition of JCGM 101:2008, 7.9.4 under which the Monte Carlo
        interval is accurate enough for the comparison. An unstable verdict may change
        with the seed, so more draws are needed.
    """
    delta = significant_digit_tolerance(std, digits)
    d_low = abs(value - expanded - interval[0])
    d_high = abs(value + expanded - interval[1])
    check = {
        "adequate": bool(d_low <= delta and d_high <= delta),
        "d_low": float(d_low),
        "d_high": float(d_high),
        "delta": float(delta),
        "digits": int(digits),
    }
    if errors is not None:
        known = [float(e) if math.isfinite(e) else None for e in errors]
        check["error_low"], check["error_high"] = known
        check["stable"] = all(e is not None and 2.0 * e <= delta for e in known)
    return check
