"""propagate: error propagation in both senses, from one computational graph.

Backward error propagation (exact chain-rule gradients, a NumPy backprop engine) and
propagation of measurement uncertainty (GUM first order, second order, Monte Carlo).
Public names are imported lazily so that each part stays importable on its own.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "parse": "propagate.symbolic",
    "Graph": "propagate.symbolic",
    "Quantity": "propagate.uncertainty",
    "ParseError": "propagate.errors",
    "PropagateError": "propagate.errors",
}

_SUBPACKAGES = ("symbolic", "uncertainty", "nn", "check", "errors")

__all__ = sorted(_EXPORTS) + list(_SUBPACKAGES)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"propagate.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'propagate' has no attribute {name!r}")
