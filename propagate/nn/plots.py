"""Plots of a training run from its logs: loss and accuracy, gradient norms, update ratios.

matplotlib is an optional dependency (``pip install "propagate[plots]"``) and is imported
only when a plot is drawn. Figures are built with the object-oriented API on the Agg
renderer, so drawing changes no global pyplot state and needs no display. Every PNG is
written atomically: rendered into memory, then moved over the target file.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from propagate.errors import DataError, MissingDependencyError
from propagate.fileio import write_bytes_atomic
from propagate.nn.diagnosis import Thresholds
from propagate.nn.monitor import LOG_NAME, StepRecord, read_log

logger = logging.getLogger(__name__)

HISTORY_NAME = "history.jsonl"
INSTALL_HINT = 'pip install "propagate[plots]"'

_DPI = 100


def _new_figure(width: float = 7.0, height: float = 4.0):
    """Create a matplotlib Figure on the Agg canvas, importing matplotlib on first use."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            f"plots need matplotlib, which is not installed; install it with {INSTALL_HINT}"
        ) from exc
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: str | os.PathLike) -> Path:
    """Render ``figure`` as PNG and write it to ``path`` atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return write_bytes_atomic(path, buffer.getvalue())


def read_history(path: str | os.PathLike) -> list[dict]:
    """Read a per-epoch history log (one JSON object per line) written by the trainer.

    A torn last line is skipped with a warning, as for the monitor log.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(
            f"history {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); pass a "
            f"history.jsonl written by propagate train"
        ) from exc
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                logger.warning("skipping the torn last line %d of %s", number, path)
                continue
            raise DataError(f"{path}, line {number}: invalid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DataError(
                f"{path}, line {number}: expected a JSON object with keys such as epoch and "
                f"train_loss, got {type(row).__name__}"
            )
        rows.append(row)
    return rows


def _layer_matrix(records: Sequence[StepRecord], attribute: str):
    """Return layer names and a (layers, records) array of ``attribute``; NaN where absent."""
    names: list[str] = []
    for record in records:
        for name in record.layer_names():
            if name not in names:
                names.append(name)
    row = {name: i for i, name in enumerate(names)}
    matrix = np.full((len(names), len(records)), np.nan)
    for column, record in enumerate(records):
        for layer in record.layers:
            value = getattr(layer, attribute)
            if value is not None:
                matrix[row[layer.name], column] = value
    return names, matrix


def _require_records(records: Sequence[StepRecord], what: str) -> None:
    if not records:
        raise DataError(f"no monitor records to plot {what}; record a run with a Monitor first")


def _series(history: Sequence[dict], key: str):
    x_key = "step" if all("step" in row for row in history) else "epoch"
    rows = [row for row in history if isinstance(row.get(key), (int, float)) and x_key in row]
    return x_key, [row[x_key] for row in rows], [row[key] for row in rows]


def plot_training(
    records: Sequence[StepRecord], history: Sequence[dict], path: str | os.PathLike
) -> Path:
    """Plot the loss over steps, and accuracy or RMSE when the history has it, into ``path``.

    Parameters
    ----------
    records : sequence of StepRecord
        Monitor records; their per-step batch loss is drawn as a thin line.
    history : sequence of dict
        Per-epoch rows with keys such as ``train_loss``, ``test_loss``,
        ``train_accuracy``, ``test_accuracy`` (``train_rmse``, ``test_rmse`` for
        regression) and ``step`` or ``epoch``.
    """
    if not records and not history:
        raise DataError("no monitor records and no history to plot the loss from")
    metric = "accuracy" if any("accuracy" in key for row in history for key in row) else "rmse"
    accuracy_keys = sorted({key for row in history for key in row if metric in key})
    loss_keys = sorted({key for row in history for key in row if key.endswith("loss")})

    figure = _new_figure(7.0, 6.0 if accuracy_keys else 4.0)
    axes = figure.subplots(2 if accuracy_keys else 1, 1, sharex=True, squeeze=False)[:, 0]

    loss_axis = axes[0]
    if records:
        steps = [r.step for r in records]
        losses = [r.loss if math.isfinite(r.loss) else np.nan for r in records]
        loss_axis.plot(steps, losses, lw=0.8, alpha=0.6, label="batch loss")
    x_label = "step"
    for key in loss_keys:
        x_label, xs, ys = _series(history, key)
        loss_axis.plot(xs, ys, marker="o", ms=3, label=key.replace("_", " "))
    loss_axis.set_ylabel("loss")
    loss_axis.set_yscale("log" if _all_positive(loss_axis) else "linear")
    loss_axis.legend(loc="upper right", fontsize="small")
    metric_label = "accuracy" if metric == "accuracy" else "RMSE"
    loss_axis.set_title("loss" + (f" and {metric_label}" if accuracy_keys else ""))

    if accuracy_keys:
        accuracy_axis = axes[1]
        for key in accuracy_keys:
            x_label, xs, ys = _series(history, key)
            accuracy_axis.plot(xs, ys, marker="o", ms=3, label=key.replace("_", " "))
        accuracy_axis.set_ylabel(metric_label)
        accuracy_axis.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(x_label if not records else "step")
    return save_figure(figure, path)


def _all_positive(axis) -> bool:
    values = [np.asarray(line.get_ydata(), dtype=float) for line in axis.get_lines()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    return finite.size > 0 and bool(np.all(finite > 0))


def plot_gradient_heatmap(records: Sequence[StepRecord], path: str | os.PathLike) -> Path:
    """Draw log10 of each layer's weight-gradient norm over steps as a heat map.

    Rows are layers in forward order (input at the top); grey cells are steps where the
    gradient was exactly zero or not finite.
    """
    _require_records(records, "gradient norms")
    names, matrix = _layer_matrix(records, "weight_grad_norm")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(matrix)
    masked = np.ma.masked_invalid(logs)

    figure = _new_figure(7.5, 1.2 + 0.28 * max(len(names), 4))
    axis = figure.subplots()
    colormap = _colormap("viridis").with_extremes(bad="lightgrey")
    steps = [r.step for r in records]
    extent = (steps[0] - 0.5, steps[-1] + 0.5, len(names) - 0.5, -0.5)
    image = axis.imshow(masked, aspect="auto", interpolation="nearest", cmap=colormap,
                        extent=extent)
    axis.set_yticks(range(len(names)), labels=names, fontsize="small")
    axis.set_xlabel("step")
    axis.set_ylabel("layer (forward order)")
    axis.set_title("weight-gradient norm per layer, log10")
    figure.colorbar(image, ax=axis, label="log10 ||∂L/∂W||")
    return save_figure(figure, path)


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _default_depth_steps(records: Sequence[StepRecord]) -> list[int]:
    indexes = sorted({0, len(records) // 2, len(records) - 1})
    return [records[i].step for i in indexes]


def plot_gradient_by_depth(
    records: Sequence[StepRecord], path: str | os.PathLike, steps: Sequence[int] | None = None
) -> Path:
    """Draw the weight-gradient norm against layer depth at chosen steps (log scale).

    Parameters
    ----------
    steps : sequence of int, optional
        Recorded steps to draw; defaults to the first, middle and last record.

    Raises
    ------
    DataError
        If a requested step was not recorded.
    """
    _require_records(records, "gradient norms by depth")
    by_step = {r.step: r for r in records}
    steps = list(steps) if steps else _default_depth_steps(records)
    missing = [s for s in steps if s not in by_step]
    if missing:
        recorded = f"{records[0].step} to {records[-1].step}"
        raise DataError(
            f"steps {missing} were not recorded; choose recorded steps ({recorded}, "
            f"{len(records)} records)"
        )

    names, _ = _layer_matrix(records, "weight_grad_norm")
    figure = _new_figure()
    axis = figure.subplots()
    for step in steps:
        norms = {layer.name: layer.weight_grad_norm for layer in by_step[step].layers}
        values = [_positive_or_nan(norms.get(name)) for name in names]
        axis.plot(range(len(names)), values, marker="o", label=f"step {step}")
    _log_scale_if_possible(axis)
    axis.set_xticks(range(len(names)), labels=names, rotation=45, fontsize="small")
    axis.set_xlabel("layer (input → output)")
    axis.set_ylabel("||∂L/∂W||")
    axis.set_title("weight-gradient norm by depth")
    axis.legend(fontsize="small")
    return save_figure(figure, path)


def _positive_or_nan(value) -> float:
    if value is None or not math.isfinite(value) or value <= 0:
        return math.nan
    return value


def _log_scale_if_possible(axis) -> None:
    if _all_positive(axis):
        axis.set_yscale("log")


def plot_update_ratio(
    records: Sequence[StepRecord],
    path: str | os.PathLike,
    thresholds: Thresholds | None = None,
) -> Path:
    """Draw each layer's update-to-weight ratio ||Δθ|| / ||θ|| over steps (log scale).

    Dashed lines mark the diagnosis bounds for a learning rate that is too large or too
    small; the dotted line marks the healthy value 1e-3.
    """
    _require_records(records, "update ratios")
    thresholds = thresholds or Thresholds()
    names, matrix = _layer_matrix(records, "update_ratio")
    steps = [r.step for r in records]

    figure = _new_figure()
    axis = figure.subplots()
    for name, row in zip(names, matrix, strict=True):
        # Markers keep isolated points visible between gaps of zero or missing ratios.
        axis.plot(steps, [_positive_or_nan(v) for v in row], lw=1.0, marker=".", ms=3,
                  label=name)
    axis.axhline(1e-3, color="black", ls=":", lw=1.0, label="healthy 1e-3")
    axis.axhline(thresholds.update_ratio_high, color="red", ls="--", lw=1.0, label="too large")
    axis.axhline(thresholds.update_ratio_low, color="blue", ls="--", lw=1.0, label="too small")
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("||Δθ|| / ||θ||")
    axis.set_title("update-to-weight ratio per layer")
    axis.legend(fontsize="x-small", ncol=2, loc="best")
    return save_figure(figure, path)


def plot_variants(
    variants: dict[str, Sequence[StepRecord]], path: str | os.PathLike
) -> Path:
    """Draw the median weight-gradient norm by depth of several runs on one axis.

    Each run may have its own layers; the x axis is the depth index (0 = first layer).
    """
    if not variants:
        raise DataError("no runs to compare")
    figure = _new_figure()
    axis = figure.subplots()
    for label, records in variants.items():
        _require_records(records, f"run {label}")
        _, matrix = _layer_matrix(records, "weight_grad_norm")
        with np.errstate(invalid="ignore"):
            medians = np.nanmedian(np.where(np.isfinite(matrix), matrix, np.nan), axis=1)
        axis.plot(range(len(medians)), [_positive_or_nan(v) for v in medians],
                  marker="o", label=label)
    _log_scale_if_possible(axis)
    axis.set_xlabel("layer depth (0 = input layer)")
    axis.set_ylabel("median ||∂L/∂W|| over steps")
    axis.set_title("weight-gradient norm by depth")
    axis.legend(fontsize="small")
    return save_figure(figure, path)


def plot_grad_norm_over_steps(
    variants: dict[str, Sequence[StepRecord]], path: str | os.PathLike
) -> Path:
    """Draw the total gradient norm of several runs over steps (log scale).

    Steps with a gradient that is zero or not finite are left as gaps.
    """
    if not variants:
        raise DataError("no runs to compare")
    figure = _new_figure()
    axis = figure.subplots()
    for label, records in variants.items():
        _require_records(records, f"run {label}")
        steps = [r.step for r in records]
        axis.plot(steps, [_positive_or_nan(r.grad_norm) for r in records], lw=1.0, label=label)
    _log_scale_if_possible(axis)
    axis.set_xlabel("step")
    axis.set_ylabel("||∂L/∂θ|| before clipping")
    axis.set_title("total gradient norm")
    axis.legend(fontsize="small")
    return save_figure(figure, path)


def plot_run(run_dir: str | os.PathLike, steps: Sequence[int] | None = None) -> list[Path]:
    """Draw every plot that the logs in ``run_dir`` allow and return the PNG paths.

    Reads ``history.jsonl`` (per-epoch metrics) and ``monitor.jsonl`` (per-step gradient
    statistics); either may be missing, not both. Writes ``loss.png`` and, with a monitor
    log, ``grad_heatmap.png``, ``grad_by_depth.png`` and ``update_ratio.png`` into
    ``run_dir``.

    Raises
    ------
    DataError
        If ``run_dir`` is not a folder or contains neither log.
    MissingDependencyError
        If matplotlib is not installed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder {run_dir} not found; pass the --out folder of a run")
    history_path, monitor_path = run_dir / HISTORY_NAME, run_dir / LOG_NAME
    if not history_path.exists() and not monitor_path.exists():
        raise DataError(
            f"{run_dir} contains neither {HISTORY_NAME} nor {LOG_NAME}; write them with "
            f"propagate train --out, a Monitor or propagate diagnose"
        )
    _new_figure()  # fail early, before reading logs, when matplotlib is missing

    history = read_history(history_path) if history_path.exists() else []
    records = read_log(monitor_path) if monitor_path.exists() else []
    written = [plot_training(records, history, run_dir / "loss.png")]
    if records:
        written.append(plot_gradient_heatmap(records, run_dir / "grad_heatmap.png"))
        written.append(plot_gradient_by_depth(records, run_dir / "grad_by_depth.png", steps))
        written.append(plot_update_ratio(records, run_dir / "update_ratio.png"))
    return written
