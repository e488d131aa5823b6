"""Benchmark: the compiled reverse-sweep gradient against lambdify of sympy.diff and a loop.

Run: ``.venv/bin/python benchmarks/bench_compile.py [--points N] [--repeats R]``.

The model is a 2-3-1 sigmoid network with MSE loss. Its gradient with respect to the 13
weights and biases is evaluated over N data points (x0, x1, y) in one call, with the
parameters fixed. Three ways are timed (median of R runs) and printed as a markdown table:

1. ``Graph.compile`` of the adjoints from the reverse sweep (node values shared, cse);
2. ``sympy.lambdify`` (NumPy) of ``sympy.diff`` of the loss expanded into inputs only;
3. a Python loop calling the compiled function once per point, timed on a subset of
   points and scaled to N (the scaling is an estimate).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy
from timing import median_seconds

from propagate.symbolic import dense_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="data points per call")
    parser.add_argument("--repeats", type=int, default=7, help="runs per method (median)")
    parser.add_argument("--loop-points", type=int, default=2_000, help="points in the loop run")
    args = parser.parse_args()

    net = dense_network([2, 3, 1], ["sigmoid", "sigmoid"])
    graph = net.graph
    parameters = net.parameters
    data = ["x0", "x1", "y0"]
    order = [*parameters, *data]

    rng = np.random.default_rng(0)
    parameter_values = list(rng.normal(size=len(parameters)))
    data_values = [rng.normal(size=args.points) for _ in data]
    values = [*parameter_values, *data_values]

    start = time.perf_counter()
    adjoint = graph.adjoints("L")
    compiled = graph.compile([adjoint[name] for name in parameters], inputs=order)
    build_compiled = time.perf_counter() - start

    start = time.perf_counter()
    expanded = graph.expression("L")
    symbols = [graph.symbol(name) for name in order]
    derivatives = [sympy.diff(expanded, graph.symbol(name)) for name in parameters]
    lambdified = sympy.lambdify(symbols, derivatives, modules="numpy")
    build_lambdify = time.perf_counter() - start

    reference = compiled(*values)
    check = [np.broadcast_to(r, (args.points,)) for r in lambdified(*values)]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, check, strict=True))

    time_compiled = median_seconds(lambda: compiled(*values), args.repeats)
    time_lambdify = median_seconds(lambda: lambdified(*values), args.repeats)

    subset = min(args.loop_points, args.points)

    def loop() -> None:
        for k in range(subset):
            compiled(*parameter_values, *(column[k] for column in data_values))

    time_loop = median_seconds(loop, max(1, args.repeats // 2)) * args.points / subset

    print(
        f"Gradient of a 2-3-1 sigmoid MSE loss, {len(parameters)} parameters, "
        f"{args.points} points, median of {args.repeats} runs; "
        f"max difference compiled vs lambdify {worst:.2e}\n"
    )
    print("| method | build (s) | evaluate (s) | relative to compiled |")
    print("| --- | --- | --- | --- |")
    print(
        f"| Graph.compile, reverse sweep + cse | {build_compiled:.3f} | {time_compiled:.4f} | 1 |"
    )
    print(
        f"| lambdify(diff(expanded)) | {build_lambdify:.3f} | {time_lambdify:.4f} | "
        f"{time_lambdify / time_compiled:.2f} |"
    )
    print(
        f"| Python loop per point (scaled from {subset}) | {build_compiled:.3f} | "
        f"{time_loop:.2f} | {time_loop / time_compiled:.0f} |"
    )


if __name__ == "__main__":
    main()
