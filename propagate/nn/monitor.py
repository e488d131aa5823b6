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
import operator
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from propagate.errors import CheckpointError
from propagate.fileio import write_text_atomic
from propagate.nn.autograd import is_grad_enabled

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LOG_NAME = "monitor.jsonl"

SIGMOID_SATURATION_MARGIN = 0.01
TANH_SATURATION_LEVEL = 0.99

# summarize_array recomputes the variance from deviations when the one-pass value is below
# this share of the mean square.
_VARIANCE_RECHECK = 1e-2

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
        over the whole batch. For an RNN, z is the sequence of hidden states and δ the error
        that reaches them from the layers above (through ``output`` and ``h_n``, which share
        the last state), not the error carried back through time.
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
            "layers": [
                {name: getattr(layer, name) for name in _LAYER_FIELDS} for layer in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> StepRecord:
        """Build a record from :meth:`to_dict` output or from one parsed log line.

        Raises
        ------
        CheckpointError
            If a key is missing or a value has the wrong type.
        """
        try:
            if not isinstance(data, dict):
                raise TypeError(f"a record is a JSON object, not {type(data).__name__}")
            layers = data.get("layers")
            if layers is None:
                layers = []
            if not isinstance(layers, list):
                raise TypeError(f"layers must be a list, not {type(layers).__name__}")
            return cls(
                step=_to_int("step", data["step"]),
                loss=_to_float("loss", data["loss"]),
                lr=_to_optional_float("lr", data.get("lr")),
                layers=[_layer_from_dict(layer) for layer in layers],
                epoch=None if data.get("epoch") is None else _to_int("epoch", data["epoch"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CheckpointError(
                f"invalid monitor record ({detail}); expected the keys step, loss, lr and layers "
                f"written by propagate.nn.monitor"
            ) from exc


_LAYER_FIELDS = tuple(f.name for f in dataclasses.fields(LayerStats))


_TEXT_FIELDS = ("name", "kind", "activation")


def _to_int(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} must be a whole number, not {value!r}")
    return value


def _to_float(key: str, value) -> float:
    if isinstance(value, str) and value in _NONFINITE_TEXT:
        return _NONFINITE_TEXT[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{key} must be a number, not {value!r}")
    return float(value)


def _to_optional_float(key: str, value) -> float | None:
    return None if value is None else _to_float(key, value)


def _layer_from_dict(data) -> LayerStats:
    """Build one :class:`LayerStats` from its log form; keys of a newer schema are ignored."""
    if not isinstance(data, dict):
        raise TypeError(f"a layer entry is a JSON object, not {data!r}")
    values = {}
    for key in _LAYER_FIELDS:
        value = data.get(key)
        if key in _TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise TypeError(f"layer {key} must be text, not {value!r}")
        else:
            value = _to_optional_float(f"layer {key}", value)
        values[key] = value
    if values["name"] is None or values["kind"] is None:
        raise KeyError("name" if values["name"] is None else "kind")
    return LayerStats(**values)


def encode_nonfinite(value):
    """Replace NaN and infinite floats by the strings ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"`` inside nested dicts and lists, so strict JSON can hold them."""
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: encode_nonfinite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [encode_nonfinite(item) for item in value]
    return value


def record_to_json(record: StepRecord) -> str:
    """Return ``record`` as one line of strict JSON (without the newline)."""
    data = record.to_dict()
    try:
        return json.dumps(data, allow_nan=False, separators=(",", ":"))
    except ValueError:
        # Only records with NaN or infinity pay for the rewrite.
        return json.dumps(encode_nonfinite(data), allow_nan=False, separators=(",", ":"))


def record_from_json(line: str) -> StepRecord:
    """Parse one log line written by :func:`record_to_json`."""
    return StepRecord.from_dict(json.loads(line))


class MonitorLog:
    """Append-only JSON lines file of :class:`StepRecord` objects.

    Each record is written as one line. The file is flushed after ``flush_every`` records
    or ``flush_seconds`` seconds, whichever comes first, so a crash loses at most that
    much and can only tear the last line, which :func:`read_log` skips. Flushing every
    line costs a system call per record, about as much as the rest of a monitored step
    for a small network.

    Parameters
    ----------
    path : str or os.PathLike
        File to append to; its folder is created if needed.
    flush_every : int
        Maximum number of records between flushes.
    flush_seconds : float
        Maximum time in seconds between flushes (checked when a record is written).
    """

    def __init__(self, path: str | os.PathLike, flush_every: int = 100,
                 flush_seconds: float = 1.0):
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, not {flush_every}")
        if not flush_seconds >= 0:
            raise ValueError(f"flush_seconds must not be negative, not {flush_seconds}")
        self.path = Path(path)
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._handle = None
        self._pending = 0
        self._last_flush = time.monotonic()

    def write(self, record: StepRecord) -> None:
        """Append ``record`` as one line."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._handle.write(record_to_json(record) + "\n")
        self._pending += 1
        if (self._pending >= self.flush_every
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Hand the buffered lines to the operating system."""
        if self._handle is not None:
            self._handle.flush()
        self._pending = 0
        self._last_flush = time.monotonic()

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
            f"monitor log {path} not found; record one with a Monitor "
            f"(propagate.nn.monitor.attach_monitor) or with propagate diagnose"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CheckpointError(
            f"monitor log {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            f"pass a monitor.jsonl written by propagate.nn.monitor"
        ) from exc

    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(record_from_json(line))
        except (json.JSONDecodeError, CheckpointError) as exc:
            if number == len(lines):
                logger.warning("skipping the torn last line %d of %s: %s", number, path, exc)
                continue
            if isinstance(exc, json.JSONDecodeError):
                raise CheckpointError(
                    f"{path}, line {number}: invalid JSON ({exc.msg} at column {exc.colno})"
                ) from exc
            raise CheckpointError(f"{path}, line {number}: {exc}") from exc
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

    # Mean and variance from one sum and one BLAS dot: E[a²] − E[a]². The subtraction loses
    # the digits that E[a²] and E[a]² share, which in float32 leaves nothing when the spread
    # is 1e-4 of the mean (sigmoid outputs near 1/2 from tiny weights). Below 1% of E[a²]
    # the variance is therefore recomputed from the deviations, which costs one more pass.
    flat = values.ravel(order="K")
    count = flat.size
    mean = float(flat.sum()) / count
    with np.errstate(over="ignore", invalid="ignore"):
        mean_square = float(np.dot(flat, flat)) / count
        variance = mean_square - mean * mean
        if variance < _VARIANCE_RECHECK * mean_square:
            deviations = flat - flat.dtype.type(mean)
            variance = float(np.dot(deviations, deviations)) / count
    stats = {
        "activation_mean": mean,
        "activation_std": math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else variance,
        "saturated_fraction": None,
        "dead_fraction": None,
    }

    if kind == "sigmoid":
        # |a − 1/2| > 1/2 − margin is a < margin or a > 1 − margin.
        limit = 0.5 - SIGMOID_SATURATION_MARGIN
        saturated = int(np.count_nonzero(np.abs(flat - 0.5) > limit))
        stats["saturated_fraction"] = saturated / count
    elif kind == "tanh":
        saturated = int(np.count_nonzero(np.abs(flat) > TANH_SATURATION_LEVEL))
        stats["saturated_fraction"] = saturated / count
    elif kind == "relu":
        units = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None, :]
        dead_units = units.max(axis=0) <= 0
        stats["dead_fraction"] = int(np.count_nonzero(dead_units)) / dead_units.size
    return stats


def _squared_norm(array: np.ndarray) -> float:
    """Return ||array||² as a Python float, without the overflow of squaring huge entries.

    ``ravel(order="K")`` is a view for C- and F-contiguous arrays alike (a weight gradient
    is often the transpose of a matmul result), so BLAS reads the data without a copy. In
    float32 the sum of squares overflows for norms above about 1.8e19, so that case is
    rescaled. Callers silence NumPy's overflow warning once around a batch of calls, which
    is cheaper than an ``np.errstate`` per call.
    """
    flat = array.ravel(order="K")
    total = float(np.dot(flat, flat))
    if math.isinf(total) and np.all(np.isfinite(flat)):
        scale = float(np.max(np.abs(flat)))
        scaled = flat / scale
        total = scale * scale * float(np.dot(scaled, scaled))
    return total


def _sqrt_or_none(value: float | None) -> float | None:
    return None if value is None else math.sqrt(value)


def _step_number(name: str, value) -> int:
    """Return ``value`` as a Python int; NumPy integers are accepted, bools and floats not."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a whole number of steps, not {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number of steps, not {value!r}") from None


class _LayerWatch:
    """Parameters of one monitored layer and what the hooks captured for it."""

    def __init__(self, name: str, module):
        self.name = name
        self.module = module
        self.kind = type(module).__name__
        self.parameters = [(pname, p) for pname, p in module.named_parameters()]
        self.is_bias = [pname.startswith("bias") for pname, _ in self.parameters]
        self.snapshot: list[np.ndarray] | None = None
        self.parameter_norm_sq = 0.0
        self.reset()

    def reset(self) -> None:
        self.delta_sq: float | None = None
        self.activation: str | None = None
        self.activation_stats: dict | None = None
        self.sequence_grads: list[list] = []

    def add_delta(self, grad: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            self.delta_sq = (self.delta_sq or 0.0) + _squared_norm(np.asarray(grad))

    def hold_sequence_grads(self, output, last_state) -> None:
        """Keep the gradients of an RNN's ``output`` and ``h_n`` for :meth:`sequence_delta_sq`.

        The engine's backward passes never write into a gradient array after handing it to
        a hook, so holding references until the record is safe and saves a copy.
        """
        grads = [None, None]
        self.sequence_grads.append(grads)

        def keep(index):
            def hook(grad):
                grads[index] = np.asarray(grad)
            return hook

        output.register_hook(keep(0))
        last_state.register_hook(keep(1))

    def sequence_delta_sq(self) -> float | None:
        """Return ||δ||² over the hidden states of every RNN call in the step.

        ``h_n`` is the last time step of ``output``, so the error arriving at that state is
        the sum of both gradients: adding their squared norms instead would miss the cross
        term.
        """
        total = None
        for output_grad, last_grad in self.sequence_grads:
            if output_grad is None and last_grad is None:
                continue
            if last_grad is None:
                value = _squared_norm(output_grad)
            elif output_grad is None:
                value = _squared_norm(last_grad)
            else:
                value = _squared_norm(output_grad[:-1]) + _squared_norm(
                    output_grad[-1] + last_grad[0]
                )
            total = (total or 0.0) + value
        return total


class Monitor:
    """Record gradient-flow statistics of a model every ``every`` training steps.

    Use it as a callback of :class:`propagate.nn.train.Trainer` (see :func:`attach_monitor`)
    or by hand in a custom loop::

        monitor = Monitor(every=10, log_path="run/monitor.jsonl").attach(model)
        for step in range(1, steps + 1):
            loss = nn.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            monitor.record(step, loss, lr=optimizer.lr)  # before optimizer.step()
            optimizer.step()
            monitor.after_update()                       # gives the update ratio
        monitor.close()

    Hooks capture δ and activations only while the monitor is armed, that is during the
    forward and backward of a step it will record: after :meth:`after_update` (or
    :meth:`record`) of step t it arms itself for step t + 1 when ``every`` divides t + 1.
    Forward passes under ``nn.no_grad()`` (evaluation) are never captured.

    NOTE: recording every step of a 784-256-128-10 MLP (batch 128, float32, Adam) added
    about 10% (9-16% of CPU time, 3-5% of wall time) on a 2-CPU machine busy with other
    work (``benchmarks/bench_monitor.py``). Recording every 10 steps adds 1-2%.

    Parameters
    ----------
    every : int
        Record the steps whose number is a multiple of ``every``.
    log_path : str or os.PathLike, optional
        JSON lines file that receives one record per recorded step.
    flush_every : int
        Maximum number of records between flushes of the log (see :class:`MonitorLog`,
        which also flushes at least once a second).
    keep_records : bool
        Keep every record in :attr:`records` as well (needed by :meth:`diagnose`).
    track_updates : bool
        Measure the update-to-weight ratio. It costs a copy of the weights and two more
        passes over them per recorded step; without it ``update_ratio`` stays None.

    Attributes
    ----------
    records : list of StepRecord
        The records so far, when ``keep_records`` is true.
    """

    def __init__(
        self,
        every: int = 1,
        log_path: str | os.PathLike | None = None,
        flush_every: int = 100,
        keep_records: bool = True,
        track_updates: bool = True,
    ):
        every = _step_number("every", every)
        if every < 1:
            raise ValueError(f"every must be a positive whole number of steps, not {every!r}")
        self.every = every
        self.log = MonitorLog(log_path, flush_every) if log_path is not None else None
        self.keep_records = keep_records
        self.track_updates = track_updates
        self.records: list[StepRecord] = []
        self.model = None
        self._watches: list[_LayerWatch] = []
        self._by_module: dict[int, _LayerWatch] = {}
        self._handles: list = []
        self._armed = True
        self._order: list[_LayerWatch] = []
        self._current: _LayerWatch | None = None
        self._pending: StepRecord | None = None
        self._pending_order: list[_LayerWatch] = []
        self._warned_unarmed = False

    # --- attaching -------------------------------------------------------------------------

    def attach(self, model) -> Monitor:
        """Register forward hooks on the ``Linear``, ``RNN`` and activation modules of ``model``.

        Returns the monitor, so that ``Monitor(...).attach(model)`` reads as one step.
        """
        from propagate.nn.modules.activation import GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
        from propagate.nn.modules.linear import Linear
        from propagate.nn.modules.rnn import RNN

        self.detach()
        self.model = model
        activations = (Sigmoid, Tanh, ReLU, LeakyReLU, GELU, Softplus)
        for name, module in model.named_modules():
            if isinstance(module, (Linear, RNN)):
                watch = _LayerWatch(name or type(module).__name__, module)
                self._watches.append(watch)
                self._by_module[id(module)] = watch
                self._handles.append(module.register_forward_hook(self._on_layer_output))
            elif isinstance(module, activations):
                self._handles.append(module.register_forward_hook(self._on_activation_output))
        if not self._watches:
            raise ValueError(
                f"the model {type(model).__name__} has no Linear or RNN layer to monitor"
            )
        self._order = []
        self._current = None
        return self

    def detach(self) -> None:
        """Remove every hook this monitor registered; :meth:`attach` starts it again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._watches = []
        self._by_module = {}
        self.model = None

    def should_record(self, step: int) -> bool:
        """Return whether ``step`` is one of the steps this monitor records."""
        return step % self.every == 0

    def begin_step(self, step: int) -> None:
        """Arm the hooks for ``step`` if it is recorded; optional before the forward pass."""
        self._armed = self.should_record(step)
        self._order = []
        self._current = None
        for watch in self._watches:
            watch.reset()

    # --- hooks -----------------------------------------------------------------------------

    def _on_layer_output(self, module, inputs, output) -> None:
        if not self._armed or not is_grad_enabled():
            return
        watch = self._by_module[id(module)]
        outputs = output if isinstance(output, tuple) else (output,)
        if watch not in self._order:
            self._order.append(watch)
        self._current = watch
        watch.delta_sq = None
        # A frozen layer fed by frozen layers has an output without gradient, so no δ.
        if getattr(outputs[0], "requires_grad", False):
            if watch.kind == "RNN" and len(outputs) == 2:
                watch.hold_sequence_grads(*outputs)
            else:
                for tensor in outputs:
                    tensor.register_hook(watch.add_delta)

        if watch.kind == "RNN":
            # The RNN applies its nonlinearity inside forward, so its output contains the
            # activations of every time step.
            watch.activation = module.nonlinearity
            watch.activation_stats = summarize_array(outputs[0].data, module.nonlinearity)

    def _on_activation_output(self, module, inputs, output) -> None:
        if not self._armed or self._current is None or not is_grad_enabled():
            return
        # An activation belongs to the Linear layer that ran last before it in this pass.
        watch = self._current
        watch.activation = type(module).__name__
        watch.activation_stats = summarize_array(output.data, watch.activation)

    # --- recording -------------------------------------------------------------------------

    def record(
        self, step: int, loss, lr: float | None = None, epoch: int | None = None
    ) -> StepRecord | None:
        """Record ``step`` after ``loss.backward()`` and before ``optimizer.step()``.

        Call it on every step; it returns None on steps it does not record. A call on step
        t arms the hooks for the forward pass of step t + 1. So a loop that calls it only on
        recorded steps must call :meth:`begin_step` before each forward pass. Otherwise the
        records lack δ and the activation statistics, and the monitor logs a warning.
        The record is written to the log by :meth:`after_update`, which adds the
        update-to-weight ratio, or else by the next :meth:`record` or :meth:`close`.
        """
        if self.model is None:
            raise ValueError("the monitor is not attached to a model; call attach(model) first")
        step = _step_number("step", step)
        self._write_pending()
        if not self.should_record(step):
            self._arm_for(step + 1)
            return None
        if not self._armed and not self._warned_unarmed:
            self._warned_unarmed = True
            logger.warning(
                "step %d is recorded without δ and activation statistics, because the hooks "
                "were not armed during its forward pass; call Monitor.record on every step "
                "(it returns None on the others) or Monitor.begin_step(step) before each "
                "forward pass", step)

        loss_value = float(loss.item()) if hasattr(loss, "item") else float(loss)
        order = self._order + [w for w in self._watches if w not in self._order]
        with np.errstate(over="ignore", invalid="ignore"):
            layers = [self._layer_stats(watch) for watch in order]
        record = StepRecord(
            step=step,
            loss=loss_value,
            lr=None if lr is None else float(lr),
            layers=layers,
            epoch=None if epoch is None else _step_number("epoch", epoch),
        )
        self._pending = record
        self._pending_order = order
        self._arm_for(step + 1)
        return record

    def _layer_stats(self, watch: _LayerWatch) -> LayerStats:
        weight_sq = bias_sq = weight_grad_sq = bias_grad_sq = None
        if self.track_updates and watch.snapshot is None:
            watch.snapshot = [np.empty_like(p.data) for _, p in watch.parameters]

        for index, (_, parameter) in enumerate(watch.parameters):
            data = parameter.data
            if self.track_updates:
                buffer = watch.snapshot[index]
                if buffer.shape != data.shape or buffer.dtype != data.dtype:
                    # The model was cast (``model.to``) or reloaded since the last record.
                    buffer = watch.snapshot[index] = np.empty_like(data)
                np.copyto(buffer, data)
            value_sq = _squared_norm(data)
            grad_sq = None if parameter.grad is None else _squared_norm(parameter.grad)
            if watch.is_bias[index]:
                bias_sq = (bias_sq or 0.0) + value_sq
                if grad_sq is not None:
                    bias_grad_sq = (bias_grad_sq or 0.0) + grad_sq
            else:
                weight_sq = (weight_sq or 0.0) + value_sq
                if grad_sq is not None:
                    weight_grad_sq = (weight_grad_sq or 0.0) + grad_sq
        watch.parameter_norm_sq = (weight_sq or 0.0) + (bias_sq or 0.0)

        stats = LayerStats(
            name=watch.name,
            kind=watch.kind,
            weight_grad_norm=_sqrt_or_none(weight_grad_sq),
            bias_grad_norm=_sqrt_or_none(bias_grad_sq),
            weight_norm=_sqrt_or_none(weight_sq),
            delta_norm=_sqrt_or_none(
                watch.sequence_delta_sq() if watch.sequence_grads else watch.delta_sq
            ),
            activation=watch.activation,
        )
        if watch.activation_stats is not None:
            for key, value in watch.activation_stats.items():
                setattr(stats, key, value)
        return stats

    def after_update(self) -> StepRecord | None:
        """Add the update-to-weight ratio to the pending record and write it.

        Call it right after ``optimizer.step()``; returns the completed record, or None
        when the step was not recorded.
        """
        record = self._pending
        if record is None:
            return None
        if not self.track_updates:
            self._write_pending()
            return record
        with np.errstate(over="ignore", invalid="ignore"):
            for stats, watch in zip(record.layers, self._pending_order, strict=True):
                update_sq = 0.0
                for (_, parameter), before in zip(watch.parameters, watch.snapshot, strict=True):
                    np.subtract(parameter.data, before, out=before)
                    update_sq += _squared_norm(before)
                if watch.parameter_norm_sq > 0:
                    stats.update_ratio = math.sqrt(update_sq / watch.parameter_norm_sq)
        self._write_pending()
        return record

    def _arm_for(self, step: int) -> None:
        self.begin_step(step)

    def _write_pending(self) -> None:
        record = self._pending
        if record is None:
            return
        self._pending = None
        if self.keep_records:
            self.records.append(record)
        if self.log is not None:
            self.log.write(record)

    def close(self) -> None:
        """Write the pending record, flush and close the log, and remove the hooks."""
        self._write_pending()
        if self.log is not None:
            self.log.close()
        self.detach()

    def diagnose(self, thresholds=None):
        """Diagnose the records kept so far; see :func:`propagate.nn.diagnosis.diagnose`."""
        from propagate.nn.diagnosis import diagnose

        return diagnose(self.records, thresholds)

    # --- Trainer callback ------------------------------------------------------------------

    def on_train_begin(self, trainer) -> None:
        if self.log is not None:
            _truncate_log(self.log.path, keep_until=trainer.step)
        self.attach(trainer.model)
        self.begin_step(trainer.step + 1)

    def on_step_end(self, trainer, step, batch_loss) -> None:
        epoch = getattr(trainer, "current_epoch", trainer.epoch + 1)
        self.record(step, batch_loss, lr=trainer.lr, epoch=epoch)

    def on_update_end(self, trainer, step, batch_loss) -> None:
        self.after_update()

    def on_train_end(self, trainer) -> None:
        self.close()


def _truncate_log(path: Path, keep_until: int) -> None:
    """Keep only the records up to step ``keep_until``, as a resumed run rewrites them."""
    if not path.exists():
        return
    if keep_until <= 0:
        write_text_atomic(path, "")
        return
    kept = [record for record in read_log(path) if record.step <= keep_until]
    write_log(path, kept)


def attach_monitor(trainer, every: int = 1, log_path: str | os.PathLike | None = None) -> Monitor:
    """Add a :class:`Monitor` to ``trainer.callbacks`` and return it.

    The log goes to ``log_path`` or, by default, to ``monitor.jsonl`` in the trainer's
    output folder beside ``history.jsonl`` (no log when the trainer has no folder).
    """
    if log_path is None and getattr(trainer, "out_dir", None) is not None:
        log_path = Path(trainer.out_dir) / LOG_NAME
    monitor = Monitor(every=every, log_path=log_path)
    trainer.callbacks.append(monitor)
    return monitor
