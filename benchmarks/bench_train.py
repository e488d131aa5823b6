"""Benchmark training on the bundled digits: seconds per epoch and time to 95% test accuracy.

Run from the repository root:

    .venv/bin/python benchmarks/bench_train.py [--runs 5] [--epochs 25] [--json]

Each run trains the ``propagate train`` default network (64-32 ReLU MLP, Adam, lr 3e-3,
batch 32, float32) with its own seed, without writing files, and the medians over runs are
reported. Time to 95% counts from the first step to the end of the first epoch whose test
accuracy is at least 0.95, including the per-epoch evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, split_data

TARGET_ACCURACY = 0.95


class EpochClock:
    """Callback that notes the wall time at the start and after every epoch."""

    def __init__(self):
        self.start = None
        self.epoch_ends = []

    def on_train_begin(self, trainer):
        self.start = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, record):
        self.epoch_ends.append(time.perf_counter() - self.start)


def run_once(seed: int, epochs: int, dtype: str) -> dict:
    """Train one seeded run and return its timings and final accuracy."""
    config = TrainConfig(epochs=epochs, seed=seed, dtype=dtype)
    x, y = load_digits(np.dtype(dtype))
    data = split_data(x, y, "classification", config)
    clock = EpochClock()
    trainer = Trainer(MLPSpec(64, (64, 32), 10), data, config, callbacks=[clock], progress=False)
    history = trainer.fit()

    reached = next(
        (i for i, record in enumerate(history) if record["test_accuracy"] >= TARGET_ACCURACY),
        None,
    )
    return {
        "seed": seed,
        "seconds_per_epoch": statistics.median(record["seconds"] for record in history),
        "total_seconds": clock.epoch_ends[-1],
        "epochs_to_95": reached + 1 if reached is not None else None,
        "seconds_to_95": clock.epoch_ends[reached] if reached is not None else None,
        "final_test_accuracy": history[-1]["test_accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="number of seeded runs (default 5)")
    parser.add_argument("--epochs", type=int, default=25, help="epochs per run (default 25)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    runs = [run_once(seed, args.epochs, args.dtype) for seed in range(args.runs)]
    reached = [run["seconds_to_95"] for run in runs if run["seconds_to_95"] is not None]
    summary = {
        "runs": len(runs),
        "epochs": args.epochs,
        "dtype": args.dtype,
        "median_seconds_per_epoch": statistics.median(r["seconds_per_epoch"] for r in runs),
        "median_total_seconds": statistics.median(r["total_seconds"] for r in runs),
        "median_seconds_to_95": statistics.median(reached) if reached else None,
        "runs_reaching_95": len(reached),
        "min_final_test_accuracy": min(r["final_test_accuracy"] for r in runs),
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "per_run": runs,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return

    print(f"digits, 64-32 ReLU MLP, Adam lr 3e-3, batch 32, {args.dtype}, {len(runs)} runs")
    print(f"median seconds per epoch: {summary['median_seconds_per_epoch']:.4f}")
    print(f"median seconds for {args.epochs} epochs: {summary['median_total_seconds']:.3f}")
    if reached:
        print(
            f"median seconds to {TARGET_ACCURACY:.0%} test accuracy: "
            f"{summary['median_seconds_to_95']:.3f} ({len(reached)}/{len(runs)} runs reached it)"
        )
    else:
        print(f"no run reached {TARGET_ACCURACY:.0%} test accuracy")
    print(f"lowest final test accuracy: {summary['min_final_test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
