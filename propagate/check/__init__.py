"""Gradient checks of the engine: exact symbolic gradients, finite differences, complex step.

- :func:`crosscheck` compares the engine's gradients and error terms δ with the exact ones of
  the model exported to a symbolic Graph (:func:`export_model`);
- :func:`gradcheck` compares any engine function's gradient with central differences and,
  where the function is analytic, the complex step;
- :func:`output_uncertainty` propagates input uncertainty to a network's outputs.
"""

from propagate.check.crosscheck import crosscheck, engine_gradients, exact_gradients
from propagate.check.export import SUPPORTED, ExportedModel, export_model
from propagate.check.gradcheck import central_step, gradcheck, gradcheck_model
from propagate.check.network_uncertainty import (
    OutputUncertainty,
    engine_jacobian,
    input_covariance,
    monte_carlo_covariance,
    output_uncertainty,
    symbolic_jacobian,
)
from propagate.check.report import Report, ReportRow, compare
from propagate.check.sweep import SweepPlan, SweepResult

__all__ = [
    "SUPPORTED",
    "ExportedModel",
    "OutputUncertainty",
    "Report",
    "ReportRow",
    "SweepPlan",
    "SweepResult",
    "compare",
    "central_step",
    "crosscheck",
    "engine_gradients",
    "engine_jacobian",
    "exact_gradients",
    "export_model",
    "gradcheck",
    "gradcheck_model",
    "input_covariance",
    "monte_carlo_covariance",
    "output_uncertainty",
    "symbolic_jacobian",
]
