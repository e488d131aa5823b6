"""Benchmark first-order propagation of propagate against the ``uncertainties`` package.

Run: python benchmarks/bench_uncertainty.py [--rows N] [--repeat R]

Two cases on one 10-input model:

1. one measurement: ``propagate.uncertainty`` from the model text (parsed each call) and
   with a prebuilt Graph. Both reuse the compiled Jacobian that the first call caches,
   and the first call alone (exact Jacobian and compilation) is timed too. The reference
   is ``uncertainties`` evaluating the model on UFloats.
2. N rows of measurements: one vectorised ``propagate_arrays`` call against a Python loop
   that evaluates the model on UFloats row by row.

Each time is the median of R runs. Prints a markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_seconds
from uncertainties import ufloat, umath

from propagate.symbolic import Graph
from propagate.uncertainty import propagate_arrays, propagate_uncertainty
from propagate.uncertainty.model import clear_compiled_cache

MODEL = "x1*sin(x2) + exp(x3/10)*x4 + log(x5)*x6 + x7^2/x8 + sqrt(x9)*x10"
NAMES = [f"x{i}" for i in range(1, 11)]
VALUES = np.linspace(1.0, 2.0, 10)
STDS = np.linspace(0.01, 0.05, 10)


def model_ufloat(x):
    return (
        x[0] * umath.sin(x[1])
        + umath.exp(x[2] / 10) * x[3]
        + umath.log(x[4]) * x[5]
        + x[6] ** 2 / x[7]
        + umath.sqrt(x[8]) * x[9]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for the array case")
    parser.add_argument("--repeat", type=int, default=7, help="runs per timing (median)")
    args = parser.parse_args()

    inputs = {name: (float(v), float(u)) for name, v, u in zip(NAMES, VALUES, STDS, strict=True)}
    graph = Graph.from_text({"y": MODEL})

    def one_text():
        return propagate_uncertainty({"y": MODEL}, inputs)

    def one_graph():
        return propagate_uncertainty(graph, inputs)

    def one_cold():
        clear_compiled_cache()
        return propagate_uncertainty(graph, inputs)

    def one_uncertainties():
        return model_ufloat([ufloat(v, u) for v, u in zip(VALUES, STDS, strict=True)])

    expected = one_uncertainties().std_dev
    assert abs(one_text()["y"].std - expected) <= 1e-12 * expected

    rng = np.random.default_rng(0)
    rows_values = VALUES[:, None] * rng.uniform(0.9, 1.1, (10, args.rows))
    rows_stds = STDS[:, None] * rng.uniform(0.5, 1.5, (10, args.rows))
    values = dict(zip(NAMES, rows_values, strict=True))
    stds = dict(zip(NAMES, rows_stds, strict=True))

    def rows_propagate():
        return propagate_arrays(graph, values, stds)

    def rows_uncertainties():
        return [
            model_ufloat(
                [ufloat(v, u) for v, u in zip(rows_values[:, k], rows_stds[:, k], strict=True)]
            ).std_dev
            for k in range(args.rows)
        ]

    looped = np.array(rows_uncertainties())
    vectorised = rows_propagate().stds[:, 0]
    assert np.allclose(vectorised, looped, rtol=1e-12, atol=0)

    timings = [
        ("one measurement, propagate from text", median_seconds(one_text, args.repeat)),
        ("one measurement, propagate with a Graph", median_seconds(one_graph, args.repeat)),
        ("one measurement, uncertainties", median_seconds(one_uncertainties, args.repeat)),
        (
            "one measurement, propagate, first call (compiles)",
            median_seconds(one_cold, args.repeat),
        ),
        (f"{args.rows} rows, propagate_arrays", median_seconds(rows_propagate, args.repeat)),
        (
            f"{args.rows} rows, loop over uncertainties",
            median_seconds(rows_uncertainties, max(1, args.repeat // 2)),
        ),
    ]
    reference = {0: 2, 1: 2, 3: 2, 4: 5}
    print("| case | median time (ms) | ratio to uncertainties |")
    print("| --- | ---: | ---: |")
    for i, (label, seconds) in enumerate(timings):
        ratio = seconds / timings[reference[i]][1] if i in reference else 1.0
        print(f"| {label} | {seconds * 1e3:.3f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
