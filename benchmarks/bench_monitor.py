"""Measure the cost of gradient-flow monitoring on a training step of an MLP 784-256-128-10.

One training step is zero_grad, forward, cross-entropy, backward and an Adam step, in
float32 with batch 128 on random data. The monitored step adds ``Monitor.record`` and
``Monitor.after_update`` with a JSON lines log on disk. Blocks of steps with and without
the monitor alternate, so that drift in machine load hits both alike. The table gives the
median wall-clock and CPU time per step and the ratios monitored / unmonitored. On a busy
machine the CPU time of this process is the steadier measure (with ``--threads 1``).
Run: ``python benchmarks/bench_monitor.py [--threads N] [--steps S]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

SIZES = (784, 256, 128, 10)
BATCH = 128


def build(seed: int):
    import numpy as np

    from propagate import nn

    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out, rng=rng, dtype=np.float32), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    return model, nn.optim.Adam(model.parameters(), lr=1e-3)


def time_block(model, optimizer, x, y, steps: int, first_step: int,
               monitor=None) -> tuple[float, float]:
    """Run ``steps`` training steps; return wall-clock and CPU seconds per step."""
    from propagate import nn

    inputs = nn.Tensor(x)
    start = time.perf_counter()
    start_cpu = time.process_time()
    for step in range(first_step, first_step + steps):
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(inputs), y)
        loss.backward()
        if monitor is not None:
            monitor.record(step, loss, lr=optimizer.lr)
        optimizer.step()
        if monitor is not None:
            monitor.after_update()
    wall = (time.perf_counter() - start) / steps
    return wall, (time.process_time() - start_cpu) / steps


def measure(every: int, steps: int, folder: Path,
            track_updates: bool = True) -> dict[str, float]:
    """Return median seconds per step without and with a monitor recording every ``every``.

    Blocks of ``every`` steps alternate between the two models, so each monitored block
    contains exactly one recorded step, until each model has run about ``steps`` steps.
    Keys: ``plain`` and ``watched`` (wall clock), ``plain_cpu`` and ``watched_cpu``.
    """
    import numpy as np

    from propagate.nn.monitor import Monitor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=BATCH)

    plain_model, plain_optimizer = build(1)
    watched_model, watched_optimizer = build(1)
    monitor = Monitor(every=every, log_path=folder / f"monitor_every{every}.jsonl",
                      track_updates=track_updates)
    monitor.attach(watched_model)

    time_block(plain_model, plain_optimizer, x, y, 10, 1)
    time_block(watched_model, watched_optimizer, x, y, 10, 1, monitor)
    plain, watched = [], []
    next_step = 11
    for _ in range(max(steps // every, 1)):
        plain.append(time_block(plain_model, plain_optimizer, x, y, every, next_step))
        watched.append(time_block(watched_model, watched_optimizer, x, y, every, next_step,
                                  monitor))
        next_step += every
    monitor.close()
    return {
        "plain": statistics.median(t[0] for t in plain),
        "watched": statistics.median(t[0] for t in watched),
        "plain_cpu": statistics.median(t[1] for t in plain),
        "watched_cpu": statistics.median(t[1] for t in watched),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="limit OpenBLAS to this many threads (default: its own choice)")
    parser.add_argument("--steps", type=int, default=400,
                        help="timed steps per model and setting (default 400)")
    args = parser.parse_args()
    if args.threads is not None:
        # Must be set before NumPy loads OpenBLAS.
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)

    import numpy as np

    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, Adam; "
          f"{args.steps} steps in alternating blocks; NumPy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"threads {args.threads or 'default'}")
    print()
    print("| monitor | ms/step plain | ms/step monitored | ratio | CPU ms/step plain | "
          "CPU ms/step monitored | CPU ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for every, track_updates in ((1, True), (10, True), (1, False)):
            t = measure(every, args.steps, Path(folder), track_updates)
            label = f"every {every} step{'s' if every > 1 else ''}"
            if not track_updates:
                label += ", no update ratio"
            print(f"| {label} | {t['plain'] * 1e3:.2f} | {t['watched'] * 1e3:.2f} | "
                  f"{t['watched'] / t['plain']:.3f} | {t['plain_cpu'] * 1e3:.2f} | "
                  f"{t['watched_cpu'] * 1e3:.2f} | {t['watched_cpu'] / t['plain_cpu']:.3f} |")


if __name__ == "__main__":
    main()
