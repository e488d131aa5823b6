"""Propagation of measurement uncertainty through a symbolic graph: first order (GUM),
second order and Monte Carlo (GUM Supplement 1), with budgets and ``uncertainties`` interop.

The package itself is callable: ``propagate.uncertainty(model, inputs, ...)`` is
:func:`propagate_uncertainty`.
"""

from __future__ import annotations

import sys
import types

from propagate.uncertainty.arrays import ArrayResult, propagate_arrays
from propagate.uncertainty.budget import BudgetRow, coverage_factor, welch_satterthwaite
from propagate.uncertainty.interop import from_ufloats, to_ufloats
from propagate.uncertainty.propagation import DEFAULT_SAMPLES, METHODS, propagate_uncertainty
from propagate.uncertainty.quantity import DISTRIBUTIONS, Quantity
from propagate.uncertainty.readings import TypeA, read_readings, type_a
from propagate.uncertainty.result import OutputResult, UncertaintyResult
from propagate.uncertainty.textform import (
    format_concise,
    format_plus_minus,
    parse_value_uncertainty,
)

__all__ = [
    "DEFAULT_SAMPLES",
    "DISTRIBUTIONS",
    "METHODS",
    "ArrayResult",
    "BudgetRow",
    "OutputResult",
    "Quantity",
    "TypeA",
    "UncertaintyResult",
    "coverage_factor",
    "format_concise",
    "format_plus_minus",
    "from_ufloats",
    "parse_value_uncertainty",
    "propagate_arrays",
    "propagate_uncertainty",
    "read_readings",
    "to_ufloats",
    "type_a",
    "welch_satterthwaite",
]


class _CallableModule(types.ModuleType):
    """Module type whose instances can be called like :func:`propagate_uncertainty`.

    Python looks up ``__call__`` on the type, not on the module object, so making
    ``propagate.uncertainty(...)`` work while it stays a package needs the module's class
    replaced by this subclass.
    """

    def __call__(self, *args, **kwargs):
        return propagate_uncertainty(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
