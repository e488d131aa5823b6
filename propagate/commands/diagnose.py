"""``propagate diagnose``: show vanishing and exploding gradients on the bundled digits.

Trains the same deep MLP three ways, for ``--steps`` SGD steps each: sigmoid units with
N(0, 1) weights, ReLU units with He initialisation, and residual blocks with LayerNorm.
Then trains an Elman RNN over 64-pixel sequences with large recurrent weights, without and
with gradient clipping, and with recurrent gain 1. Every step is monitored. The command
prints per-layer gradient and δ norms side by side with each run's diagnosis, and writes
the monitor logs, ``summary.json``, ``report.txt`` and (with matplotlib) plots to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from propagate.commands.options import non_negative_int, positive_float, positive_int
from propagate.errors import DataError, MissingDependencyError
from propagate.fileio import write_json_atomic, write_text_atomic

DEFAULT_OUT = "runs/diagnose"
DATASETS = ("digits",)


def _variant_list(text: str) -> tuple[str, ...]:
    from propagate.nn.experiments import VARIANTS

    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown variants {', '.join(unknown) or text!r}; choose from {', '.join(VARIANTS)}"
        )
    return names


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="show vanishing and exploding gradients on the digits data",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    parser.add_argument("--data", choices=DATASETS, default="digits",
                        help="data set (only the bundled 8x8 digits; default digits)")
    parser.add_argument("--depth", type=positive_int, default=10,
                        help="hidden layers of the MLPs, at least 2 (default 10)")
    parser.add_argument("--width", type=positive_int, default=32,
                        help="units per hidden layer of the MLPs (default 32)")
    parser.add_argument("--steps", type=positive_int, default=150,
                        help="SGD steps per run, each one monitored (default 150)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="examples per step (default 64)")
    parser.add_argument("--lr", type=positive_float, default=0.1,
                        help="SGD learning rate of the MLPs (default 0.1)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the data split, weights and batch order (default 0)")
    parser.add_argument("--variants", type=_variant_list, default=None,
                        help="comma-separated runs: sigmoid, relu, residual, rnn, "
                        "rnn_clipped, rnn_stable (default all)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"folder for logs, summary and plots (default {DEFAULT_OUT})")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG files")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with per-variant layer norms and findings")
    parser.set_defaults(run=run)


def _write_plots(results, out: Path) -> tuple[list[str], str | None]:
    """Draw the plots; return their paths and a note when matplotlib is missing."""
    from propagate.nn import plots
    from propagate.nn.experiments import MLP_VARIANTS, RNN_VARIANTS

    try:
        written = []
        mlp = {r.name: r.records for r in results if r.name in MLP_VARIANTS}
        rnn = {r.name: r.records for r in results if r.name in RNN_VARIANTS}
        if mlp:
            written.append(plots.plot_variants(mlp, out / "grad_by_depth.png"))
        if rnn:
            written.append(plots.plot_grad_norm_over_steps(rnn, out / "rnn_grad_norm.png"))
        for result in results:
            written.extend(plots.plot_run(out / result.name))
    except MissingDependencyError as exc:
        return [], f"plots skipped: {exc}"
    return [str(path) for path in written], None


def _report(results, config, out: Path) -> str:
    from propagate.nn.diagnosis import format_report
    from propagate.nn.experiments import format_layer_table, format_summary_table

    steps = f"median over {config.steps} steps"
    lines = [
        f"gradient flow on the digits data: {config.depth} hidden layers of {config.width} "
        f"units, batch {config.batch_size}, seed {config.seed}",
        "",
        f"weight-gradient norm ||∂L/∂W|| per layer ({steps}; layer 1 is the input layer):",
        format_layer_table(results, "grad_norms"),
        "",
        f"error term ||δ|| = ||∂L/∂z|| per layer ({steps}):",
        format_layer_table(results, "delta_norms"),
        "",
        format_summary_table(results),
    ]
    for result in results:
        lines += [
            "",
            f"== {result.name}: {result.description}",
            f"layers in forward order: {', '.join(result.layers)}",
            format_report(result.findings, result.records),
        ]
    lines += ["", f"logs: {out}/<variant>/monitor.jsonl"]
    return "\n".join(lines)


def run(args) -> int:
    from propagate.nn.experiments import VARIANTS, ExperimentConfig, run_experiments

    config = ExperimentConfig(depth=args.depth, width=args.width, steps=args.steps,
                              batch_size=args.batch_size, lr=args.lr, seed=args.seed).validate()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file; choose a folder for the logs and plots")
    # Fail before training, not after the first run, when the folder cannot be created.
    out.mkdir(parents=True, exist_ok=True)
    variants = args.variants or VARIANTS
    results = run_experiments(config, variants, out, progress=sys.stderr.isatty())

    plot_paths, note = ([], None) if args.no_plots else _write_plots(results, out)
    report = _report(results, config, out)
    summary = {
        "data": args.data,
        "config": {key: getattr(config, key) for key in config.__dataclass_fields__},
        "out": str(out),
        "variants": {result.name: result.to_dict() for result in results},
        "plots": plot_paths,
    }
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "report.txt", report + "\n")

    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(report)
        if plot_paths:
            print(f"plots: {len(plot_paths)} PNG files in {out}")
    if note:
        print(f"propagate diagnose: {note}", file=sys.stderr)
    return 0
