"""``propagate train``: train an MLP on the bundled digits or a CSV file, with checkpoints.

An output folder contains one run. When it already has a checkpoint, the command continues
that run with ``--resume``, starts afresh with ``--overwrite``, and otherwise exits with an
error, so that a finished run is never replaced by accident. A resumed run takes its settings
from the checkpoint. ``--epochs`` may raise the total, and any other setting given on the
command line must match the saved one.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from propagate.commands.options import fraction, non_negative_int, positive_float, positive_int
from propagate.errors import CheckpointError, NonFiniteError

DEFAULT_OUT = "runs/train"
EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130

# Defaults of the run settings. The options default to None, so that a resumed run can tell
# an option given on the command line from one left out.
DEFAULTS = {
    "data": "digits",
    "target": None,
    "task": "auto",
    "layers": "64,32",
    "activation": "relu",
    "optimizer": "adam",
    "lr": 3e-3,
    "epochs": 25,
    "batch_size": 32,
    "schedule": "none",
    "clip_norm": None,
    "seed": 0,
    "test_fraction": 0.2,
    "dtype": "float32",
}

# Settings fixed by a checkpoint: resuming with another value would not continue the same run.
FIXED_ON_RESUME = (
    "data",
    "target",
    "task",
    "layers",
    "activation",
    "optimizer",
    "lr",
    "batch_size",
    "schedule",
    "clip_norm",
    "seed",
    "test_fraction",
    "dtype",
)


def _layers(text: str) -> str:
    from propagate.nn.models import parse_layers

    try:
        sizes = parse_layers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ",".join(str(size) for size in sizes) if sizes else "none"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``propagate train`` and its options."""
    from propagate.nn.models import ACTIVATIONS
    from propagate.nn.train import OPTIMIZERS, SCHEDULES

    parser = subparsers.add_parser(
        "train",
        help="train a small neural network (MLP) with checkpoints and history",
        description=(
            "Train a multilayer perceptron with the NumPy backprop engine on the bundled "
            "8x8 digits or on a CSV file, showing a progress bar, writing "
            "history.jsonl and checkpoint.npz to the output folder after every epoch, and "
            "printing the final test accuracy (RMSE for a regression target). A run that "
            "diverges stops with exit status 1 and keeps the last good checkpoint; Ctrl-C "
            "stops with exit status 130 and keeps the checkpoint of the last completed epoch, "
            "which --resume continues."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="digits|FILE.csv",
        help="'digits' for the bundled 8x8 digits (1797 images, 10 classes), or a CSV file "
        "with a header line (default: digits)",
    )
    data.add_argument(
        "--target", metavar="COLUMN", help="target column of the CSV file (required for CSV)"
    )
    data.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        help="what the CSV target is; 'auto' takes text or at most 50 distinct integers as "
        "classes and anything else as regression (default: auto)",
    )
    data.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="F",
        help="share of samples held out for testing (default: 0.2)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--layers",
        type=_layers,
        metavar="SIZES",
        help="hidden layer widths, comma-separated, or 'none' for a linear model (default: 64,32)",
    )
    model.add_argument(
        "--activation",
        choices=tuple(ACTIVATIONS),
        help="activation after each hidden layer (default: relu)",
    )
    model.add_argument(
        "--dtype", choices=("float32", "float64"), help="floating-point type (default: float32)"
    )

    fit = parser.add_argument_group("optimisation")
    fit.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer (default: adam)")
    fit.add_argument(
        "--lr", type=positive_float, metavar="X", help="learning rate (default: 0.003)"
    )
    fit.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning-rate schedule: 'step' multiplies it by 0.1 every 10 epochs, 'cosine' "
        "anneals it to 0 over the run (default: none)",
    )
    fit.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="total number of epochs; with --resume, may exceed the saved run's (default: 25)",
    )
    fit.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="samples per step (default: 32)"
    )
    fit.add_argument(
        "--clip-norm",
        type=positive_float,
        metavar="X",
        help="clip the global gradient norm to X before each step (default: no clipping)",
    )
    fit.add_argument(
        "--seed",
        type=non_negative_int,
        metavar="S",
        help="seed of the split, initial weights and shuffles (default: 0)",
    )

    run_group = parser.add_argument_group("output")
    run_group.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"folder for history.jsonl and checkpoint.npz (default: {DEFAULT_OUT})",
    )
    start = run_group.add_mutually_exclusive_group()
    start.add_argument(
        "--resume", action="store_true", help="continue the run whose checkpoint is in DIR"
    )
    start.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh even if DIR has a checkpoint, replacing it",
    )
    run_group.add_argument(
        "--no-progress", action="store_true", help="do not show the progress bar"
    )
    run_group.add_argument(
        "--monitor",
        nargs="?",
        const=1,
        type=positive_int,
        metavar="K",
        help="record gradient-flow statistics every K steps (K = 1 when omitted) to "
        "DIR/monitor.jsonl, for 'propagate plot DIR' and the diagnosis printed at the end",
    )
    run_group.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the final metrics; a run that diverged prints "
        "'diverged': true and the 'error' message instead",
    )
    parser.set_defaults(run=run)
    return parser


def _given_settings(args) -> dict:
    return {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}


def _saved_settings(out_dir: Path) -> tuple[dict, int, int]:
    """Return the settings, epochs done and total epochs of the checkpoint in ``out_dir``."""
    from propagate.nn.checkpoint import load_checkpoint
    from propagate.nn.train import CHECKPOINT_NAME

    state = load_checkpoint(out_dir / CHECKPOINT_NAME)
    settings = state.get("metadata", {}).get("settings")
    if settings is None:
        raise CheckpointError(
            f"{out_dir / CHECKPOINT_NAME} was not written by 'propagate train'; "
            "resume it from Python with Trainer.resume"
        )
    return dict(settings), int(state["epoch"]), int(state["config"]["epochs"])


def _check_out_dir(text: str) -> Path:
    """Return ``--out`` as a path, rejecting an empty value or an existing file."""
    if not text.strip():
        raise ValueError("--out is empty; give the folder for the run's files")
    out_dir = Path(text)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder for the run's files")
    return out_dir


def _prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and check that files can be written in it, before any training."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(
            f"cannot write to the output folder {out_dir} ({reason}); choose another --out"
        ) from None


def _resolve_settings(args, out_dir: Path) -> tuple[dict, bool]:
    """Merge defaults, checkpoint and command line; return the settings and whether resuming."""
    from propagate.nn.train import CHECKPOINT_NAME

    given = _given_settings(args)
    checkpoint = out_dir / CHECKPOINT_NAME
    if args.resume:
        if not checkpoint.exists():
            raise CheckpointError(
                f"no checkpoint to resume in {out_dir}; run without --resume to start"
            )
        try:
            settings, done, _ = _saved_settings(out_dir)
        except CheckpointError as exc:
            raise CheckpointError(
                f"cannot resume: {exc}; start afresh with --overwrite or choose another --out"
            ) from None
        if given.get("epochs", done) < done:
            raise ValueError(
                f"--epochs {given['epochs']} is fewer than the {done} epochs already done in "
                f"{out_dir}; give a larger total, or leave --epochs out"
            )
        for key in FIXED_ON_RESUME:
            if key in given and given[key] != settings.get(key):
                option = "--" + key.replace("_", "-")
                raise ValueError(
                    f"{option} {given[key]} differs from the resumed run's "
                    f"{settings.get(key)}; leave it out to resume, or train afresh "
                    "with --overwrite or another --out"
                )
        if "epochs" in given:
            settings["epochs"] = given["epochs"]
        return settings, True

    if checkpoint.exists() and not args.overwrite:
        try:
            _, done, total = _saved_settings(out_dir)
        except CheckpointError as exc:
            raise CheckpointError(
                f"{out_dir} has a checkpoint that cannot be used ({exc}); pass --overwrite "
                "to replace it, or choose another --out"
            ) from None
        raise CheckpointError(
            f"{out_dir} already has a checkpoint ({done} of {total} epochs); pass --resume "
            "to continue it, --overwrite to start afresh, or choose another --out"
        )
    settings = {**DEFAULTS, **given}
    return settings, False


def _load_data(settings: dict):
    """Return ``(x, y, task, class_names)`` for the data the settings name."""
    import numpy as np

    from propagate.nn.data import DIGITS_CLASSES, load_csv, load_digits

    dtype = np.dtype(settings["dtype"])
    if settings["data"] == "digits":
        if settings["target"] is not None:
            raise ValueError("--target applies to CSV files; the digits have their class")
        if settings["task"] not in ("auto", "classification"):
            raise ValueError("the digits are a classification task; drop --task")
        x, y = load_digits(dtype)
        return x, y, "classification", [str(label) for label in range(DIGITS_CLASSES)]

    if settings["target"] is None:
        raise ValueError(f"--target COLUMN is required with --data {settings['data']}")
    table = load_csv(settings["data"], settings["target"], task=settings["task"], dtype=dtype)
    return table.x, table.y, table.task, table.class_names


def _remove_run_files(out_dir: Path) -> None:
    from propagate.nn.checkpoint import metadata_path
    from propagate.nn.train import CHECKPOINT_NAME, HISTORY_NAME

    checkpoint = out_dir / CHECKPOINT_NAME
    for path in (checkpoint, metadata_path(checkpoint), out_dir / HISTORY_NAME):
        path.unlink(missing_ok=True)


def run(args) -> int:
    """Train with the given options; return 0, 1 when training diverged, 130 on Ctrl-C."""
    from propagate.nn.models import MLPSpec, parse_layers
    from propagate.nn.train import TrainConfig, Trainer, split_data

    out_dir = _check_out_dir(args.out)
    settings, resuming = _resolve_settings(args, out_dir)
    x, y, task, class_names = _load_data(settings)
    config = TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        schedule=settings["schedule"],
        clip_norm=settings["clip_norm"],
        seed=settings["seed"],
        test_fraction=settings["test_fraction"],
        dtype=settings["dtype"],
    ).validate()
    data = split_data(x, y, task, config, class_names)
    progress = not args.no_progress
    _prepare_out_dir(out_dir)

    if resuming:
        trainer = Trainer.resume(out_dir, data, epochs=config.epochs, progress=progress)
        # The saved settings are updated, so that the checkpoint shows the new total.
        trainer.metadata["settings"] = settings
    else:
        if args.overwrite:
            _remove_run_files(out_dir)
        spec = MLPSpec(
            n_inputs=data.n_features,
            hidden=parse_layers(settings["layers"]),
            n_outputs=data.n_outputs,
            activation=settings["activation"],
        )
        trainer = _memory_checked(
            lambda: Trainer(
                spec,
                data,
                config,
                out_dir=out_dir,
                progress=progress,
                metadata={"settings": settings},
            )
        )

    monitor = None
    if args.monitor:
        from propagate.nn.monitor import attach_monitor

        monitor = attach_monitor(trainer, every=args.monitor)

    start = time.perf_counter()
    try:
        history = _memory_checked(trainer.fit)
    except NonFiniteError as exc:
        print(f"propagate train: error: {exc}", file=sys.stderr)
        if args.json:
            _print_json(_divergence_report(trainer, task, resuming, str(exc)))
        return EXIT_DIVERGED
    except KeyboardInterrupt:
        print(f"propagate train: {_interrupt_note(trainer, out_dir)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    seconds = time.perf_counter() - start

    final = history[-1] if history else {}
    metric = trainer.metric_name
    findings = monitor.diagnose() if monitor is not None else None
    if args.json:
        _print_json(
            {
                "task": task,
                "epochs": trainer.epoch,
                "steps": trainer.step,
                "resumed": resuming,
                "seconds": seconds,
                "final": final,
                f"test_{metric}": final.get(f"test_{metric}"),
                "checkpoint": str(trainer.checkpoint_path),
                "history": str(trainer.history_path),
                "settings": trainer.metadata.get("settings", settings),
                **_monitor_report(monitor, findings),
            }
        )
        return 0

    value = final.get(f"test_{metric}")
    shown = f"{value:.4f}" if value is not None else "n/a"
    print(f"test {metric} {shown} after {trainer.epoch} epochs ({trainer.step} steps)")
    print(f"checkpoint: {trainer.checkpoint_path}")
    print(f"history: {trainer.history_path}")
    if monitor is not None:
        from propagate.nn.diagnosis import format_report

        print(f"monitor: {monitor.log.path}")
        print(format_report(findings, monitor.records))
    return 0


def _monitor_report(monitor, findings) -> dict:
    """Return the monitor log path and the diagnosis as JSON-ready entries, if monitored."""
    if monitor is None:
        return {}
    return {
        "monitor": str(monitor.log.path),
        "findings": [finding.to_dict() for finding in findings],
    }


def _memory_checked(work):
    """Run ``work()`` and turn a MemoryError into a one-line user error."""
    try:
        return work()
    except MemoryError:
        raise ValueError(
            "out of memory while building or training the network; choose smaller --layers "
            "or a smaller --batch-size"
        ) from None


def _print_json(report: dict) -> None:
    # Strict JSON: every number in a report is finite, and a NaN would be a bug.
    print(json.dumps(report, allow_nan=False))


def _divergence_report(trainer, task: str, resuming: bool, message: str) -> dict:
    checkpoint = trainer.checkpoint_path
    return {
        "task": task,
        "diverged": True,
        "error": message,
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "resumed": resuming,
        "checkpoint": str(checkpoint) if checkpoint.exists() else None,
        "history": str(trainer.history_path),
    }


def _interrupt_note(trainer, out_dir: Path) -> str:
    """Return the message for Ctrl-C: the epoch reached and how to continue the run."""
    where = f"interrupted in epoch {trainer.current_epoch} at step {trainer.step}"
    if not trainer.checkpoint_path.exists():
        return f"{where}; no epoch was completed, so there is nothing to resume"
    return (
        f"{where}; {trainer.checkpoint_path} keeps the last completed epoch; continue with "
        f"'propagate train --out {shlex.quote(str(out_dir))} --resume'"
    )
