"""``propagate plot``: draw a run's loss, gradient norms and update ratios as PNG files.

Reads ``history.jsonl`` and ``monitor.jsonl`` from DIR, as written by ``propagate train``
(history only), by a training run with a Monitor or by ``propagate diagnose``. Writes
``loss.png`` and, with a monitor log, ``grad_heatmap.png``, ``grad_by_depth.png`` and
``update_ratio.png`` beside them. When DIR contains no log but its
subfolders do (the output of ``propagate diagnose``), each subfolder is plotted.
Needs matplotlib: ``pip install "propagate[plots]"``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from propagate.errors import DataError


def _step_list(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid steps {text!r}; give recorded step numbers such as 1,50,100"
        ) from None
    if not steps:
        raise argparse.ArgumentTypeError("no steps given; use step numbers such as 1,50,100")
    return steps


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw a run's loss, gradient norms and update ratios as PNG files",
        description=__doc__.split("\n\n")[1].replace("``", ""),
    )
    parser.add_argument("dir", metavar="DIR", help="run folder with history.jsonl or "
                        "monitor.jsonl")
    parser.add_argument("--steps", type=_step_list, default=None,
                        help="recorded steps for the gradient-by-depth plot, e.g. 1,50,100 "
                        "(default: first, middle and last record)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object with the paths of the PNG files")
    parser.set_defaults(run=run)


def _run_folders(root: Path) -> list[Path]:
    from propagate.nn.monitor import LOG_NAME
    from propagate.nn.plots import HISTORY_NAME

    def has_logs(folder: Path) -> bool:
        return (folder / LOG_NAME).exists() or (folder / HISTORY_NAME).exists()

    if not root.is_dir():
        raise DataError(f"run folder {root} not found; pass the --out folder of a run")
    if has_logs(root):
        return [root]
    children = sorted(child for child in root.iterdir() if child.is_dir() and has_logs(child))
    if not children:
        raise DataError(
            f"{root} contains neither {HISTORY_NAME} nor {LOG_NAME}; write them with "
            f"propagate train --out, a Monitor or propagate diagnose"
        )
    return children


def run(args) -> int:
    from propagate.nn.plots import plot_run

    written = []
    for folder in _run_folders(Path(args.dir)):
        written.extend(plot_run(folder, steps=args.steps))

    if args.json:
        print(json.dumps({"plots": [str(path) for path in written]}))
    else:
        for path in written:
            print(path)
    return 0
