"""Time forward + backward of an MLP 784-256-128-10 (batch 128, float32) in propagate.nn.

Compares with PyTorch on the CPU when it is installed and prints a markdown table of the
median time per iteration over several runs. Run: ``python benchmarks/bench_engine.py``.
``--threads N`` limits both OpenBLAS (NumPy) and PyTorch to N threads. On a machine that is
busy with other work, multi-threaded OpenBLAS can slow down many times over, so compare
with ``--threads 1`` there.
"""

from __future__ import annotations

import argparse
import os
import platform

from timing import median_seconds

SIZES = (784, 256, 128, 10)
BATCH = 128


def engine_step_function(x, y):
    import numpy as np

    from propagate import nn

    g = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out, rng=g, dtype=np.float32), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])

    def step():
        model.zero_grad()
        nn.cross_entropy(model(x), y).backward()

    return step


def torch_step_function(x, y):
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
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and PyTorch threads (default: the libraries' own choice)")
    args = parser.parse_args()

    # OpenBLAS reads its thread count once, when NumPy is first imported.
    if args.threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np

    g = np.random.default_rng(1)
    x = g.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    y = g.integers(0, SIZES[-1], size=BATCH)

    engine_seconds = median_seconds(engine_step_function(x, y), args.repeats, args.warmup)
    rows = [("propagate.nn", engine_seconds)]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        torch_seconds = median_seconds(torch_step_function(x, y), args.repeats, args.warmup)
        rows.append((f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                     torch_seconds))

    threads = "default" if args.threads is None else args.threads
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, forward + backward, "
          f"median of {args.repeats} runs. NumPy {np.__version__}, BLAS threads {threads}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs.")
    print()
    print("| engine | ms per iteration | time relative to propagate.nn |")
    print("| --- | ---: | ---: |")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e3:.3f} | {seconds / engine_seconds:.2f} |")


if __name__ == "__main__":
    main()
