"""Time forward + backward of an MLP 784-256-128-10 (batch 128, float32) in propagate.nn.

Compares with PyTorch on the CPU when it is installed and prints a markdown table of the
median time per iteration over several runs. Run: ``python benchmarks/bench_engine.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from propagate import nn

SIZES = (784, 256, 128, 10)
BATCH = 128


def median_seconds(step, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_step_function(x: np.ndarray, y: np.ndarray):
    g = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out, rng=g, dtype=np.float32), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])

    def step():
        model.zero_grad()
        nn.cross_entropy(model(x), y).backward()

    return step


def torch_step_function(x: np.ndarray, y: np.ndarray):
    import torch

    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed iterations (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    args = parser.parse_args()

    g = np.random.default_rng(1)
    x = g.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    y = g.integers(0, SIZES[-1], size=BATCH)

    rows = [("propagate.nn", median_seconds(engine_step_function(x, y), args.repeats, args.warmup))]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        rows.append(
            (
                f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                median_seconds(torch_step_function(x, y), args.repeats, args.warmup),
            )
        )

    print(
        f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, forward + backward; "
        f"median of {args.repeats} runs; numpy {np.__version__}, {platform.machine()}"
    )
    print()
    print("| engine | ms per iteration | ratio to propagate.nn |")
    print("| --- | ---: | ---: |")
    base = rows[0][1]
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e3:.3f} | {seconds / base:.2f} |")


if __name__ == "__main__":
    main()
