"""Gradient check of any engine function against central differences and the complex step.

Central differences use the step ``h_i = ε^(1/3) · max(1, |x_i|)`` per input entry, with
``ε = 2^-52`` the float64 machine epsilon. The truncation error of a central difference is
``O(h²)`` and its rounding error ``O(ε/h)``, so this step balances them. The difference is
then accurate to about ``ε^(2/3) ≈ 4e-11`` relative to the scale of the function, which
leaves a wide margin below the default tolerance of 1e-5 with a floor of 1e-3.

The complex step ``Im f(x + i·h) / h`` with ``h = 1e-20`` has no subtractive cancellation,
so it is exact to rounding, but only for a function that is analytic as the engine computes
it. The engine's forward maps accept complex128 arrays, yet some take ``abs`` or compare
values (sigmoid, softplus, relu, max), which breaks analyticity silently. With
``complex_step="auto"`` its rows are kept only when every entry agrees with central
differences within their tolerance. Otherwise the report states why they were left out.

Neither method is valid at a kink (relu at 0, a tie of max): pick inputs away from them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence

import numpy as np

from propagate import nn
from propagate.check.report import Report, compare
from propagate.errors import DataError, GradientError, PropagateError

logger = logging.getLogger(__name__)

EPS = float(np.finfo(np.float64).eps)
COMPLEX_STEP = 1e-20
FD_RTOL, FD_FLOOR = 1e-5, 1e-3
CS_RTOL, CS_FLOOR = 1e-10, 1e-6


def central_step(x: np.ndarray) -> np.ndarray:
    """Return the central-difference step ``ε^(1/3) · max(1, |x|)`` for each entry of ``x``.

    The step is rounded so that ``x + h`` is exactly ``h`` away from ``x`` in float64, which
    removes the representation error of the step on that side.
    """
    h = EPS ** (1 / 3) * np.maximum(1.0, np.abs(x))
    return (x + h) - x


def gradcheck(
    function: Callable[..., nn.Tensor],
    inputs: Sequence,
    names: Sequence[str] | None = None,
    projections: int | None = None,
    complex_step: str | bool = "auto",
    seed: int = 0,
    rtol: float = FD_RTOL,
    floor: float = FD_FLOOR,
    complex_rtol: float = CS_RTOL,
    complex_floor: float = CS_FLOOR,
) -> Report:
    """Compare the engine's gradient of ``function`` with central differences and complex step.

    Parameters
    ----------
    function : callable
        Takes engine Tensors and returns one Tensor, of any shape.
    inputs : sequence of Tensor or array_like
        Values at which to check. Inputs that require a gradient are checked; if none does,
        every floating-point input is. Each is copied to float64.
    names : sequence of str, optional
        One name per input for the report (default ``input0``, ``input1``, ...).
    projections : int, optional
        For a non-scalar output, compare this many seeded random projections ``vᵀJ``
        (one backward each) instead of the full Jacobian (one backward per output entry).
    complex_step : {"auto", True, False}
        ``"auto"`` keeps the complex-step rows only where they agree with central
        differences, ``True`` always reports them, ``False`` skips them.
    seed : int
        Seed of the random projections.
    rtol, floor : float
        Tolerance and floor of the relative error against central differences.
    complex_rtol, complex_floor : float
        Tolerance and floor against the complex step.

    Returns
    -------
    Report
        Rows named ``<input> (central differences)`` and ``<input> (complex step)``, each of
        shape (output rows, *input shape), where the output rows are the output entries or
        the projections.
    """
    if complex_step not in ("auto", True, False):
        raise ValueError(f"complex_step must be 'auto', True or False, got {complex_step!r}")
    arrays, checked = _input_arrays(inputs)
    names = [f"input{i}" for i in range(len(arrays))] if names is None else list(names)
    if len(names) != len(arrays):
        raise ValueError(f"got {len(names)} names for {len(arrays)} inputs")

    output = _evaluate(function, arrays)
    directions = _directions(output.shape, projections, seed)
    engine = _engine_rows(function, arrays, checked, directions)

    rows, notes = [], []
    central = {}
    for index in checked:
        central[index] = _central_rows(function, arrays, index, directions)
        rows.append(compare(f"{names[index]} (central differences)", "gradient",
                            engine[index], central[index], rtol, floor))

    if complex_step is not False:
        complex_rows, reason = _complex_rows(function, arrays, checked, directions)
        if reason is None and complex_step == "auto":
            reason = _disagreement(complex_rows, central, names, rtol, floor)
        if reason is None or complex_step is True:
            for index in checked:
                row = compare(f"{names[index]} (complex step)", "gradient", engine[index],
                              complex_rows[index], complex_rtol, complex_floor)
                rows.append(row)
        if reason is not None:
            notes.append(f"complex step {'unreliable' if complex_step is True else 'not used'}: "
                         f"{reason}")

    title = "engine gradient vs central differences and complex step"
    return Report(title, rows, rtol, floor, notes)


def gradcheck_model(model: nn.Module, x, y, loss: str, **options) -> Report:
    """Check the gradient of a model's loss with respect to every parameter tensor.

    The rows are named after the parameters (``0.weight (central differences)``). The model
    is not changed: the check runs on a float64 copy. ``options`` go to :func:`gradcheck`.
    """
    from propagate.check.crosscheck import ENGINE_LOSSES, _engine_targets

    engine = copy.deepcopy(model).to(np.float64)
    slots = []
    for module_name, module in engine.named_modules():
        for attribute, parameter in module._parameters.items():
            if parameter is not None:
                name = f"{module_name}.{attribute}" if module_name else attribute
                slots.append((name, module, attribute, parameter))
    targets = _engine_targets(y, loss)
    x = nn.Tensor(np.asarray(x, dtype=np.float64))

    def model_loss(*tensors):
        # Put the given tensors in place of the parameters for one forward pass.
        for (_, module, attribute, _), tensor in zip(slots, tensors, strict=True):
            module._parameters[attribute] = tensor
        try:
            return ENGINE_LOSSES[loss](engine(x), targets)
        finally:
            for _, module, attribute, parameter in slots:
                module._parameters[attribute] = parameter

    inputs = [nn.Tensor(parameter.data, requires_grad=True) for _, _, _, parameter in slots]
    return gradcheck(model_loss, inputs, names=[name for name, *_ in slots], **options)


def _input_arrays(inputs) -> tuple[list[np.ndarray], list[int]]:
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    arrays, wants = [], []
    for position, item in enumerate(inputs):
        data = np.asarray(getattr(item, "data", item))
        if not np.issubdtype(data.dtype, np.floating):
            raise DataError(
                f"input {position} has dtype {data.dtype}; gradcheck needs floating-point "
                "inputs, so convert it with .astype(np.float64)"
            )
        arrays.append(data.astype(np.float64))
        wants.append(bool(getattr(item, "requires_grad", False)))
    checked = [i for i, want in enumerate(wants) if want] or list(range(len(arrays)))
    return arrays, checked


def _evaluate(function, arrays) -> np.ndarray:
    with nn.no_grad():
        output = function(*[nn.Tensor(array) for array in arrays])
    if not isinstance(output, nn.Tensor):
        raise TypeError(
            f"gradcheck needs a function that returns a Tensor, got {type(output).__name__}"
        )
    return output.data


def _directions(shape: tuple[int, ...], projections: int | None, seed: int) -> np.ndarray:
    """Return the output adjoints to back-propagate, shape (rows, *output shape)."""
    size = int(np.prod(shape))
    if projections is None or size == 1:
        return np.eye(size).reshape((size, *shape))
    if projections < 1:
        raise ValueError(f"projections must be at least 1, got {projections}")
    rng = np.random.default_rng(seed)
    return rng.standard_normal((projections, *shape))


def _engine_rows(function, arrays, checked, directions) -> dict[int, np.ndarray]:
    tensors = [
        nn.Tensor(array.copy(), requires_grad=i in checked) for i, array in enumerate(arrays)
    ]
    output = function(*tensors)
    if not output.requires_grad:
        raise GradientError("the function's output does not depend on any checked input")
    rows = {i: np.zeros((len(directions), *arrays[i].shape)) for i in checked}
    for k, direction in enumerate(directions):
        for i in checked:
            tensors[i].grad = None
        # backward may run again on the same graph: intermediate adjoints live per call.
        output.backward(direction)
        for i in checked:
            if tensors[i].grad is not None:
                rows[i][k] = tensors[i].grad
    return rows


def _project(outputs: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Return ``vᵀ·output`` for each direction ``v``."""
    return directions.reshape(len(directions), -1) @ outputs.reshape(-1)


def _central_rows(function, arrays, index, directions) -> np.ndarray:
    base = arrays[index]
    steps = central_step(base)
    result = np.zeros((len(directions), *base.shape))
    for entry in np.ndindex(base.shape):
        shifted = [array.copy() for array in arrays]
        shifted[index][entry] = base[entry] + steps[entry]
        plus = _evaluate(function, shifted)
        shifted[index][entry] = base[entry] - steps[entry]
        minus = _evaluate(function, shifted)
        derivative = (plus - minus) / (2 * steps[entry])
        result[(slice(None), *entry)] = _project(derivative, directions)
    return result


def _complex_rows(function, arrays, checked, directions):
    """Return the complex-step rows per input, or None and the reason they are unavailable."""
    rows = {}
    for index in checked:
        base = arrays[index]
        result = np.zeros((len(directions), *base.shape))
        for entry in np.ndindex(base.shape):
            perturbed = [array.astype(np.complex128) for array in arrays]
            perturbed[index][entry] += 1j * COMPLEX_STEP
            try:
                output = _evaluate(function, perturbed)
            except (PropagateError, TypeError, ValueError) as exc:
                return None, f"the function fails on complex128 inputs ({exc})"
            if not np.iscomplexobj(output):
                return None, (
                    f"the function returns {output.dtype} for complex128 inputs, so an "
                    "operation drops the imaginary part"
                )
            result[(slice(None), *entry)] = _project(output.imag / COMPLEX_STEP, directions)
        rows[index] = result
    return rows, None


def _disagreement(complex_rows, central, names, rtol, floor) -> str | None:
    """Return why the complex step is not trusted, or None when it agrees with differences."""
    for index, differences in central.items():
        reference = complex_rows[index]
        # Central differences are the arbiter here, so their tolerance applies.
        relative = np.abs(differences - reference) / np.maximum(np.abs(reference), floor)
        if np.any(relative > rtol):
            return (
                f"it differs from central differences for '{names[index]}' (relative error "
                f"{relative.max():.1e}), so the engine does not compute the function "
                "analytically in complex128 (abs, comparisons or max break it)"
            )
    return None
