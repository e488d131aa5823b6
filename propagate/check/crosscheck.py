"""Cross-check of the engine's gradients and error terms against the exact symbolic ones.

The model is exported to a Graph (:mod:`propagate.check.export`), whose reverse sweep gives
the exact ``∂L/∂θ`` for every parameter entry and the error term ``δ = ∂L/∂h`` for the
output ``h`` of every module. The engine runs the same batch in float64 on a copy of the
model, with tensor hooks on every module output to capture its δ, and both are compared
entry by entry.
"""

from __future__ import annotations

import copy
import logging

import numpy as np

from propagate import nn
from propagate.check.export import LOSSES, ExportedModel, export_model
from propagate.check.report import DEFAULT_FLOOR, Report, compare
from propagate.check.sweep import SweepPlan, SweepResult
from propagate.errors import DataError

logger = logging.getLogger(__name__)

DEFAULT_RTOL = 1e-10

ENGINE_LOSSES = {
    "mse": nn.mse_loss,
    "bce": nn.bce_with_logits,
    "cross-entropy": nn.cross_entropy,
}


def engine_gradients(model: nn.Module, x, y, loss: str, paths) -> tuple[dict, dict, float]:
    """Run forward and backward in float64 on a copy of ``model``.

    Parameters
    ----------
    paths : iterable of str
        Module paths whose output δ to capture (``"output"`` is the model output).

    Returns
    -------
    gradients : dict of str to numpy.ndarray
        Parameter name to ``∂L/∂θ``.
    deltas : dict of str to numpy.ndarray
        Module path to the δ of its output, shape (batch, units). A module called more
        than once in the forward pass has no single output, so it is left out.
    loss_value : float
    """
    if loss not in ENGINE_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    engine = copy.deepcopy(model).to(np.float64)
    engine.zero_grad()
    wanted = set(paths)
    deltas: dict[str, np.ndarray] = {}
    calls: dict[str, int] = {}

    def capture(path: str):
        def module_hook(module, inputs, output):
            calls[path] = calls.get(path, 0) + 1
            if isinstance(output, nn.Tensor) and output.requires_grad:
                output.register_hook(lambda grad: deltas.__setitem__(path, np.array(grad)))

        return module_hook

    handles = []
    for path, module in engine.named_modules():
        key = path or "output"
        if key in wanted:
            handles.append(module.register_forward_hook(capture(key)))
    try:
        output = engine(nn.Tensor(np.asarray(x, dtype=np.float64)))
        value = ENGINE_LOSSES[loss](output, _engine_targets(y, loss))
        value.backward()
    finally:
        for handle in handles:
            handle.remove()

    for path, count in calls.items():
        if count > 1:
            deltas.pop(path, None)

    gradients = {}
    for name, parameter in engine.named_parameters():
        grad = parameter.grad if parameter.grad is not None else np.zeros_like(parameter.data)
        gradients[name] = np.asarray(grad, dtype=np.float64)
    return gradients, deltas, float(value.item())


def _engine_targets(y, loss: str):
    targets = np.asarray(getattr(y, "data", y))
    if loss == "cross-entropy" and np.issubdtype(targets.dtype, np.integer):
        return targets
    return targets.astype(np.float64)


def exact_gradients(exported: ExportedModel, precision: int | None = None) -> SweepResult:
    """Evaluate the exact adjoints of ``exported.loss`` in float64 or with ``precision`` digits."""
    if exported.loss is None:
        raise DataError("the model was exported without a loss; export it with loss= and y=")
    return SweepPlan(exported.graph, exported.loss).run(exported.values, dps=precision)


def gather(
    exported: ExportedModel, sweep: SweepResult, names: np.ndarray, field: str = "adjoints"
) -> np.ndarray:
    """Return the adjoints (or ``field="magnitudes"``) of an array of graph names as float64.

    A name that the output does not depend on, or a constant, gives 0.
    """
    source = getattr(sweep, field)
    out = np.zeros(names.shape, dtype=np.float64)
    for index in np.ndindex(names.shape):
        value = source.get(names[index])
        if value is not None:
            out[index] = float(value)
    return out


def crosscheck(
    model: nn.Module,
    x,
    y,
    loss: str,
    precision: int | None = None,
    rtol: float = DEFAULT_RTOL,
    floor: float = DEFAULT_FLOOR,
) -> Report:
    """Compare the engine's gradients and δ terms with the exact ones of the exported graph.

    Parameters
    ----------
    model : propagate.nn.Module
        Built from the modules that :func:`export_model` supports. It is not changed: the
        engine side runs on a float64 copy.
    x : array_like of shape (batch, features)
    y : array_like
        Targets as :func:`export_model` takes them.
    loss : {"mse", "bce", "cross-entropy"}
    precision : int, optional
        Evaluate the exact side with this many significant digits through mpmath (e.g. 50)
        instead of float64.
    rtol : float
        Largest relative error that passes.
    floor : float
        Floor of the relative error's denominator: ``|a - b| / max(|b|, floor)``. Each
        entry's floor is raised to 1e-4 times its magnitude, so that float64 rounding where
        chain-rule contributions cancel is not taken for a mismatch (see
        :mod:`propagate.check.report`).

    Returns
    -------
    Report
        One row per parameter tensor (kind ``"gradient"``) and one per module output δ
        (kind ``"delta"``, named ``δ <module path>``).
    """
    # Data as symbols (with their exact float values) print and compile about twice as fast
    # as the same values written into every first-layer expression as exact rationals.
    exported = export_model(model, x, y, loss, data="symbols")
    sweep = exact_gradients(exported, precision)
    paths = [path for path, names in exported.layers.items() if _all_nodes(exported, names)]
    gradients, deltas, _ = engine_gradients(model, x, y, loss, paths)

    rows = []
    for name, symbols in exported.parameter_symbols.items():
        reference = gather(exported, sweep, symbols)
        magnitude = gather(exported, sweep, symbols, "magnitudes")
        rows.append(compare(name, "gradient", gradients[name], reference, rtol, floor, magnitude))

    notes = []
    for path in paths:
        if path not in deltas:
            notes.append(f"no δ compared for module '{path}': it is reused or has no gradient")
            continue
        reference = gather(exported, sweep, exported.layers[path])
        magnitude = gather(exported, sweep, exported.layers[path], "magnitudes")
        rows.append(
            compare(f"δ {path}", "delta", deltas[path], reference, rtol, floor, magnitude)
        )

    exact = "float64" if precision is None else f"{precision} digits"
    title = f"engine (float64) vs exact reverse sweep ({exact})"
    report = Report(title, rows, rtol, floor, notes)
    logger.debug("cross-check passed=%s, worst entry %s", report.passed, report.worst)
    return report


def _all_nodes(exported: ExportedModel, names: np.ndarray) -> bool:
    return all(name in exported.graph and not exported.graph.is_input(name) for name in names.flat)
