"""``propagate check``: cross-check the engine's backprop against exact symbolic gradients.

Builds a network from the options, draws a seeded batch, and compares the engine's
parameter gradients and per-module error terms δ with the exact ones of the network
exported to a symbolic graph. Exit status 0 when every entry agrees within the tolerance,
1 on any mismatch, 2 on invalid options.
"""

from __future__ import annotations

import argparse
import json
import time

from propagate.commands.options import fraction, positive_int

EXIT_MISMATCH = 1


def _sizes(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) < 2 or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise argparse.ArgumentTypeError(
            f"invalid layer sizes {text!r}; give at least two positive integers from input "
            "to output, e.g. 4,8,3"
        )
    return tuple(int(part) for part in parts)


def _digits(text: str) -> int:
    value = positive_int(text)
    if value < 17:
        raise argparse.ArgumentTypeError(
            f"precision {value} is below float64's 17 digits; give 17 or more, e.g. 50"
        )
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``propagate check`` and its options."""
    from propagate.check.export import LOSSES
    from propagate.check.networks import ACTIVATIONS

    parser = subparsers.add_parser(
        "check",
        help="cross-check the engine's gradients against exact symbolic gradients",
        description=(
            "Build a small network with seeded weights and a seeded batch, export it to a "
            "symbolic graph, and compare the engine's float64 gradients of every parameter "
            "and error term δ of every module with the exact ones, entry by entry. The "
            "relative error of an entry is |engine - exact| / max(|exact|, 1e-6, "
            "1e-4·magnitude), where the magnitude sums the absolute contributions of every "
            "chain-rule path, so that rounding where they cancel is not a mismatch. Exit "
            "status 0 when every entry passes, 1 on any mismatch, 2 on invalid options."
        ),
    )
    parser.add_argument(
        "--layers",
        type=_sizes,
        default=(4, 8, 3),
        metavar="N0,N1,...",
        help="units per layer from input to output (default: 4,8,3)",
    )
    parser.add_argument(
        "--activation",
        choices=tuple(ACTIVATIONS),
        default="tanh",
        help="activation after every hidden layer (default: tanh)",
    )
    parser.add_argument(
        "--loss", choices=LOSSES, default="cross-entropy", help="loss (default: cross-entropy)"
    )
    parser.add_argument(
        "--batch",
        type=positive_int,
        default=4,
        metavar="N",
        help="samples in the batch (default: 4)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of weights and data (default: 0)"
    )
    parser.add_argument(
        "--precision",
        type=_digits,
        metavar="DIGITS",
        help="evaluate the exact gradients with this many significant digits through mpmath "
        "(e.g. 50) instead of float64",
    )
    parser.add_argument(
        "--rtol",
        type=fraction,
        default=1e-10,
        help="largest relative error that passes (default: 1e-10)",
    )
    parser.add_argument(
        "--layernorm", action="store_true", help="add LayerNorm before every hidden activation"
    )
    parser.add_argument(
        "--residual",
        action="store_true",
        help="follow every hidden layer with a residual block of the same width",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    """Run the cross-check and print its table (or JSON); return 0, or 1 on a mismatch."""
    from propagate.check.crosscheck import crosscheck
    from propagate.check.networks import build_network, random_batch

    model = build_network(args.layers, args.activation, args.layernorm, args.residual, args.seed)
    x, y = random_batch(args.layers, args.loss, args.batch, args.seed)
    start = time.perf_counter()
    report = crosscheck(model, x, y, args.loss, precision=args.precision, rtol=args.rtol)
    seconds = time.perf_counter() - start

    if args.json:
        document = report.to_dict()
        document["model"] = {
            "layers": list(args.layers),
            "activation": args.activation,
            "loss": args.loss,
            "batch": args.batch,
            "seed": args.seed,
            "layernorm": args.layernorm,
            "residual": args.residual,
            "precision": args.precision,
        }
        document["seconds"] = seconds
        print(json.dumps(document, indent=2))
    else:
        sizes = "-".join(map(str, args.layers))
        print(
            f"network {sizes}, {args.activation}, {args.loss} loss, batch {args.batch}, "
            f"seed {args.seed}"
        )
        print(report.table())
        print(f"checked in {seconds:.2f} s")
    return 0 if report.passed else EXIT_MISMATCH
