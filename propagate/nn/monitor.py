"""Gradient-flow monitoring: per-layer statistics of training steps and their JSON lines log.

A :class:`Monitor` records, every ``every`` steps, the loss, the learning rate and for each
``Linear`` or ``RNN`` layer (in forward order) the gradient norms of its weights and biases,
the norm of the error term δ = ∂L/∂z at its output, statistics of the activation that follows
it, and the update-to-weight ratio ||Δθ|| / ||θ||. Each record becomes one line of
``monitor.jsonl``; :func:`read_log` reads the lines back as :class:`StepRecord` objects, which
:mod:`propagate.nn.diagnosis` and :mod:`propagate.nn.plots` consume.

Thresholds used for the activation statistics:

- a sigmoid unit is saturated when its output is within ``SIGMOID_SATURATION_MARGIN`` (0.01)
  of 0 or 1, where σ'(z) = σ(1 − σ) < 0.0099;
- a tanh unit is saturated when ``|a| > TANH_SATURATION_LEVEL`` (0.99), where
  tanh'(z) = 1 − a² < 0.0199;
- a ReLU unit is dead on a batch when its output is 0 for every example of the batch, so
  no gradient reaches its incoming weights from that batch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from propagate.errors import CheckpointError, PropagateError
from propagate.fileio import write_text_atomic

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LOG_NAME = "monitor.jsonl"

SIGMOID_SATURATION_MARGIN = 0.01
TANH_SATURATION_LEVEL = 0.99

# JSON has no NaN or infinity. The log stores them as these strings, so that strict JSON
# readers (jq, JavaScript) accept every line and read_log restores the floats.
_NONFINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


@dataclass
class LayerStats:
    """Statistics of one ``Linear`` or ``RNN`` layer at one recorded step.

    Norms are Euclidean (Frobenius for matrices). A field is ``None`` when it does not
    apply (``bias_grad_norm`` of a layer without bias, ``saturated_fraction`` after a ReLU)
    or was not measured (``update_ratio`` before the optimizer step ran).

    Attributes
    ----------
    name : str
        Module name as given by ``model.named_modules()``, e.g. ``"layers.3"``.
    kind : str
        Class name of the layer: ``"Linear"`` or ``"RNN"``.
    weight_grad_norm : float or None
        ||∂L/∂W|| over every weight matrix of the layer (for an RNN, the input and the
        recurrent weights together).
    bias_grad_norm : float or None
        ||∂L/∂b|| over every bias vector of the layer.
    weight_norm : float or None
        ||W|| before the optimizer step.
    delta_norm : float or None
        ||δ|| with δ = ∂L/∂z the gradient of the loss with respect to the layer's output z,
        over the whole batch (and, for an RNN, over every time step).
    activation : str or None
        Class name of the activation applied after the layer (``"Sigmoid"``, ``"ReLU"``,
        ...), or ``"tanh"``/``"relu"`` for the nonlinearity inside an RNN.
    activation_mean, activation_std : float or None
        Mean and standard deviation of that activation's output over the batch.
    saturated_fraction : float or None
        Fraction of sigmoid or tanh outputs in the saturated range (see the module
        docstring); ``None`` for other activations.
    dead_fraction : float or None
        Fraction of ReLU units whose output is 0 on the whole batch; ``None`` for other
        activations.
    update_ratio : float or None
        ||Δθ|| / ||θ|| over all parameters θ of the layer, Δθ the change made by the
        optimizer step that followed this record.
    """

    name: str
    kind: str
    weight_grad_norm: float | None = None
    bias_grad_norm: float | None = None
    weight_norm: float | None = None
    delta_norm: float | None = None
    activation: str | None = None
    activation_mean: float | None = None
    activation_std: float | None = None
    saturated_fraction: float | None = None
    dead_fraction: float | None = None
    update_ratio: float | None = None

    @property
    def grad_norm(self) -> float | None:
        """||∂L/∂θ|| over the weights and biases of the layer together."""
        parts = [v for v in (self.weight_grad_norm, self.bias_grad_norm) if v is not None]
        if not parts:
            return None
        return math.sqrt(sum(v * v for v in parts))


@dataclass
class StepRecord:
    """Everything the monitor recorded at one training step.

    Attributes
    ----------
    step : int
        Optimizer step counter of the training loop.
    loss : float
        Loss of the batch at this step.
    lr : float or None
        Learning rate used by the optimizer step that followed.
    layers : list of LayerStats
        One entry per ``Linear`` or ``RNN`` layer, in forward order.
    epoch : int or None
        Epoch counter, when the training loop has epochs.
    """

    step: int
    loss: float
    lr: float | None = None
    layers: list[LayerStats] = field(default_factory=list)
    epoch: int | None = None

    @property
    def grad_norm(self) -> float | None:
        """||∂L/∂θ|| over every monitored layer, as ``clip_grad_norm_`` computes it."""
        parts = [layer.grad_norm for layer in self.layers if layer.grad_norm is not None]
        if not parts:
            return None
        return math.sqrt(sum(v * v for v in parts))

    def layer_names(self) -> list[str]:
        """Return the names of the layers in forward order."""
        return [layer.name for layer in self.layers]

    def to_dict(self) -> dict:
        """Return the record as plain JSON-ready types (non-finite floats stay floats)."""
        return {
            "schema": SCHEMA_VERSION,
            "step": self.step,
            "epoch": self.epoch,
            "loss": self.loss,
            "lr": self.lr,
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
        }

    @classmethod
    def from_dict(cls, data: dict) -> StepRecord:
        """Build a record from :meth:`to_dict` output or from one parsed log line."""
        try:
            layers = [LayerStats(**layer) for layer in data.get("layers", [])]
            return cls(
                step=int(data["step"]),
                loss=_to_float(data["loss"]),
                lr=_to_float(data.get("lr")),
                layers=layers,
                epoch=data.get("epoch"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"invalid monitor record ({exc}); expected the keys step, loss, lr and layers "
                f"written by propagate.nn.monitor"
            ) from exc


def _to_float(value):
    if value is None:
        return None
    if isinstance(value, str):
        return _NONFINITE_TEXT[value]
    return float(value)


def _encode(value):
    """Replace non-finite floats by their text form, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value):
    if isinstance(value, str) and value in _NONFINITE_TEXT:
        return _NONFINITE_TEXT[value]
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def record_to_json(record: StepRecord) -> str:
    """Return ``record`` as one line of strict JSON (without the newline)."""
    return json.dumps(_encode(record.to_dict()), allow_nan=False, separators=(",", ":"))


def record_from_json(line: str) -> StepRecord:
    """Parse one log line written by :func:`record_to_json`."""
    return StepRecord.from_dict(_decode(json.loads(line)))


class MonitorLog:
    """Append-only JSON lines file of :class:`StepRecord` objects.

    Each record is written as one line and the file is flushed every ``flush_every``
    records, so a crash loses at most that many records and never leaves a broken line
    in the middle of the file (a torn last line is skipped by :func:`read_log`).

    Parameters
    ----------
    path : str or os.PathLike
        File to append to; its folder is created if needed.
    flush_every : int
        Number of records between flushes of the operating system buffer.
    """

    def __init__(self, path: str | os.PathLike, flush_every: int = 1):
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, not {flush_every}")
        self.path = Path(path)
        self.flush_every = flush_every
        self._handle = None
        self._pending = 0

    def write(self, record: StepRecord) -> None:
        """Append ``record`` as one line."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._handle.write(record_to_json(record) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered lines to the operating system."""
        if self._handle is not None:
            self._handle.flush()
        self._pending = 0

    def close(self) -> None:
        """Flush and close the file; a later :meth:`write` opens it again."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._pending = 0

    def __enter__(self) -> MonitorLog:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def write_log(path: str | os.PathLike, records) -> Path:
    """Write ``records`` as a complete JSON lines log, replacing ``path`` atomically."""
    text = "".join(record_to_json(record) + "\n" for record in records)
    return write_text_atomic(path, text)


def read_log(path: str | os.PathLike) -> list[StepRecord]:
    """Read a monitor log written by :class:`MonitorLog` or :func:`write_log`.

    A torn last line (the process died while writing it) is skipped with a warning.

    Raises
    ------
    CheckpointError
        If the file is missing or a line other than the last is not a valid record.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise CheckpointError(
            f"monitor log {path} not found; record one with propagate train --monitor "
            f"or propagate diagnose"
        ) from exc

    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(record_from_json(line))
        except (json.JSONDecodeError, PropagateError, KeyError) as exc:
            if number == len(lines):
                logger.warning("skipping the torn last line %d of %s: %s", number, path, exc)
                continue
            raise CheckpointError(f"{path}, line {number}: invalid monitor record ({exc})") from exc
    return records


def summarize_array(values: np.ndarray, activation: str | None) -> dict:
    """Compute the activation statistics of one layer output.

    Parameters
    ----------
    values : numpy.ndarray
        Activation output with the units on the last axis and examples (and time steps)
        on the leading axes.
    activation : str or None
        ``"Sigmoid"``/``"sigmoid"``, ``"Tanh"``/``"tanh"``, ``"ReLU"``/``"relu"`` get the
        saturated or dead fraction; other names get mean and standard deviation only.

    Returns
    -------
    dict
        Keys ``activation_mean``, ``activation_std``, ``saturated_fraction``,
        ``dead_fraction`` (the last two ``None`` where they do not apply).
    """
    values = np.asarray(values)
    kind = (activation or "").lower()
    stats = {
        "activation_mean": float(values.mean()),
        "activation_std": float(values.std()),
        "saturated_fraction": None,
        "dead_fraction": None,
    }

    if kind == "sigmoid":
        margin = SIGMOID_SATURATION_MARGIN
        saturated = np.count_nonzero((values < margin) | (values > 1.0 - margin))
        stats["saturated_fraction"] = saturated / values.size
    elif kind == "tanh":
        saturated = np.count_nonzero(np.abs(values) > TANH_SATURATION_LEVEL)
        stats["saturated_fraction"] = saturated / values.size
    elif kind == "relu":
        units = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]
        dead_units = ~np.any(units > 0, axis=0)
        stats["dead_fraction"] = np.count_nonzero(dead_units) / dead_units.size
    return stats
