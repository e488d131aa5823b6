"""The entry point of uncertainty propagation: model and inputs in, an
:class:`~propagate.uncertainty.result.UncertaintyResult` out, by first order, second order
or Monte Carlo."""

from __future__ import annotations

import logging

import numpy as np

from propagate.errors import QuantityError
from propagate.uncertainty.budget import check_level
from propagate.uncertainty.correlation import correlation_from_covariance
from propagate.uncertainty.inputs import InputSet, collect_inputs
from propagate.uncertainty.linear import first_order
from propagate.uncertainty.model import Model, as_graph
from propagate.uncertainty.montecarlo import (
    DEFAULT_CHUNK_SIZE,
    run_monte_carlo,
    validate_first_order,
)
from propagate.uncertainty.result import OutputResult, UncertaintyResult
from propagate.uncertainty.second_order import second_order

logger = logging.getLogger(__name__)

METHODS = ("linear", "second-order", "monte-carlo")

# JCGM 101:2008, 7.2.1 suggests 10**6 draws for a 95 % coverage interval. The draws are
# evaluated in chunks of DEFAULT_CHUNK_SIZE, so memory stays near 8 MB per output.
DEFAULT_SAMPLES = 1_000_000


def propagate_uncertainty(
    model,
    inputs,
    correlations=None,
    method: str = "linear",
    level: float = 0.95,
    *,
    covariance=None,
    outputs=None,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = None,
    digits: int = 2,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
) -> UncertaintyResult:
    """Propagate the uncertainty of the inputs through a measurement model.

    Parameters
    ----------
    model : Graph, dict, list of str or str
        The measurement model: a :class:`propagate.symbolic.Graph`, a dict name ->
        expression text, ``"name = expr"`` texts, or one expression (output ``y``).
    inputs : dict
        Input name -> :class:`Quantity`, ``(value, std)``, text such as ``"4.9990(32)"``
        or ``"4.9990±0.0032"``, an ``uncertainties`` UFloat (its correlations with other
        UFloat inputs are kept), or a plain number (exact). Every input of the model needs
        one. Extra entries are ignored with a logged warning, but an input named like a
        constant or function of the model parser (``e``, ``pi``, ``sin``) raises, because
        the model would use the constant instead.
    correlations : dict or array_like, optional
        ``{("V", "I"): -0.36}`` pairs, or a correlation matrix in the order of ``inputs``.
    method : {"linear", "second-order", "monte-carlo"}
        First order (JCGM 100 5.1, 5.2), second order for independent normal inputs
        (JCGM 100 5.1.2 note), or Monte Carlo (JCGM 101).
    level : float
        Coverage probability of the intervals, e.g. 0.95.
    covariance : array_like, optional
        A covariance matrix in the order of ``inputs``, instead of ``correlations``.
    outputs : sequence of str, optional
        Nodes to report; by default those no other node uses.
    samples, seed, chunk_size, progress
        Monte Carlo draws, Generator seed, draws per vectorised call, progress bar.
    digits : int
        Significant digits of u(y) that set the tolerance of the Monte Carlo check of the
        first-order interval (JCGM 101 8.2).

    Returns
    -------
    UncertaintyResult
        Index it by output name. For Monte Carlo, ``value`` and ``std`` are the mean and
        standard deviation of the draws, ``interval`` is the probabilistically symmetric
        coverage interval, ``expanded`` its half-width and ``k = expanded / std``;
        ``details`` contains ``shortest_interval``, the ``first_order`` result and the
        ``validation`` of the first-order interval. The budget is always the first-order
        budget at the estimates.

    Raises
    ------
    ParseError, GraphError
        For an invalid model.
    QuantityError, CovarianceError
        For invalid inputs, correlations, level, method or sample count.

    Examples
    --------
    >>> result = propagate_uncertainty("V/I", {"V": "5.000(10)", "I": (0.02, 0.0001)})
    >>> print(result["y"])
    y = 250.0 ± 1.3
    """
    level = check_level(level)
    if method not in METHODS:
        raise QuantityError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    model = Model(as_graph(model), outputs)
    collected = collect_inputs(inputs, correlations, covariance)
    unused = [name for name in collected.names if name not in model.inputs]
    check_reserved(unused)
    if unused:
        logger.warning("inputs not used by the model: %s", ", ".join(unused))
    selected = collected.select(model.inputs)

    values = selected.values
    # Non-finite results are reported by _check_finite with the output's name.
    with np.errstate(all="ignore"):
        output_values, jacobian = model.values_and_jacobian(*values)
    _check_finite(model, output_values, jacobian)
    common = (
        selected.names,
        values,
        selected.stds,
        selected.dofs,
        selected.correlation,
        model.outputs,
        output_values,
        jacobian,
    )

    if method == "linear":
        return first_order(*common, level=level, groups=selected.groups)
    if method == "second-order":
        hessians, third = model.second_derivatives(*values)
        return second_order(
            *common,
            hessians,
            third,
            level=level,
            distributions=selected.distributions,
            groups=selected.groups,
        )

    linear = first_order(*common, level=level, groups=selected.groups)
    summary = run_monte_carlo(
        model.value_function(),
        model.outputs,
        selected.quantities,
        selected.correlation,
        samples,
        level=level,
        seed=seed,
        chunk_size=chunk_size,
        progress=progress,
    )
    return _monte_carlo_result(linear, summary, level, digits, seed)


_CONSTANT_MEANING = {"e": "Euler's number 2.71828...", "pi": "the constant 3.14159..."}


def check_reserved(names) -> None:
    """Raise QuantityError for an input named like a constant or function of the model
    parser (``e``, ``pi``, ``sin``, ...), because the model text means the constant or
    function there and would ignore the input's uncertainty."""
    from propagate.symbolic.parser import RESERVED

    for name in names:
        if name in RESERVED:
            meaning = _CONSTANT_MEANING.get(name, "a function")
            raise QuantityError(
                f"input name {name!r} is reserved: in a model {name!r} is {meaning}, so the "
                f"input would be ignored; rename it (e.g. {name}_0) in the inputs and the model"
            )


def _check_finite(model, output_values, jacobian) -> None:
    """Raise QuantityError if an output or sensitivity coefficient is NaN or infinite at
    the input estimates, e.g. log(0) or a division by zero."""
    for a, name in enumerate(model.outputs):
        if not np.isfinite(output_values[a]):
            raise QuantityError(
                f"output {name} is {output_values[a]} at the input estimates; check the "
                "model and the input values"
            )
        bad = np.flatnonzero(~np.isfinite(jacobian[a]))
        if bad.size:
            raise QuantityError(
                f"sensitivity coefficient of {name} to {model.inputs[bad[0]]} is "
                f"{jacobian[a, bad[0]]} at the input estimates (the model is not "
                "differentiable there); check the model and the input values"
            )


def _monte_carlo_result(linear, summary, level, digits, seed) -> UncertaintyResult:
    outputs = []
    for a, first in enumerate(linear.outputs):
        low, high = summary.symmetric[a]
        std = float(summary.stds[a])
        expanded = float(high - low) / 2.0
        details = {
            "symmetric_interval": [float(low), float(high)],
            "shortest_interval": [float(x) for x in summary.shortest[a]],
            "first_order": {
                "value": first.value,
                "std": first.std,
                "k": first.k,
                "expanded": first.expanded,
                "interval": list(first.interval),
            },
            "validation": validate_first_order(
                first.value,
                first.expanded,
                first.std,
                (low, high),
                digits,
                summary.endpoint_errors[a],
            ),
        }
        outputs.append(
            OutputResult(
                name=first.name,
                value=float(summary.means[a]),
                std=std,
                dof=float("inf"),
                k=expanded / std if std > 0 else first.k,
                expanded=expanded,
                interval=(float(low), float(high)),
                level=level,
                budget=first.budget,
                details=details,
            )
        )
    return UncertaintyResult(
        method="monte-carlo",
        outputs=tuple(outputs),
        covariance=summary.covariance,
        correlation=correlation_from_covariance(summary.covariance),
        details={"samples": summary.samples, "seed": seed},
    )


__all__ = ["METHODS", "DEFAULT_SAMPLES", "InputSet", "propagate_uncertainty"]
