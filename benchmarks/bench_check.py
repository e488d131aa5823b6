"""Time a full cross-check of tanh MLPs (batch 8, cross-entropy), from export to report.

Networks 4-8-3, 8-16-4 and 16-32-10. Each run exports the model to a graph, derives the
local derivatives, compiles and evaluates the exact adjoints in float64, runs the engine
and builds the report, as ``propagate check`` does. Prints a markdown table of the median
time per phase and in total over several runs. sympy caches results across runs, so the
first run (reported as "first") is slower than the median.
Run: ``python benchmarks/bench_check.py [--repeats 5] [--precision 50]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

NETWORKS = ((4, 8, 3), (8, 16, 4), (16, 32, 10))
BATCH = 8


def phases(sizes, precision):
    """Run one cross-check step by step and return the seconds of each phase."""
    from propagate.check.crosscheck import engine_gradients, gather
    from propagate.check.export import export_model
    from propagate.check.networks import build_network, random_batch
    from propagate.check.report import Report, compare
    from propagate.check.sweep import SweepPlan

    model = build_network(sizes, "tanh", seed=0)
    x, y = random_batch(sizes, "cross-entropy", BATCH, seed=0)
    times = {}

    start = time.perf_counter()
    exported = export_model(model, x, y, "cross-entropy", data="symbols")
    times["export"] = time.perf_counter() - start

    start = time.perf_counter()
    plan = SweepPlan(exported.graph, "L")
    times["local derivatives"] = time.perf_counter() - start

    start = time.perf_counter()
    sweep = plan.run(exported.values, dps=precision)
    times["evaluate"] = time.perf_counter() - start

    start = time.perf_counter()
    paths = list(exported.layers)
    gradients, deltas, _ = engine_gradients(model, x, y, "cross-entropy", paths)
    rows = []
    for name, symbols in exported.parameter_symbols.items():
        reference = gather(exported, sweep, symbols)
        magnitude = gather(exported, sweep, symbols, "magnitudes")
        rows.append(compare(name, "gradient", gradients[name], reference, 1e-10, 1e-6, magnitude))
    for path in paths:
        reference = gather(exported, sweep, exported.layers[path])
        magnitude = gather(exported, sweep, exported.layers[path], "magnitudes")
        rows.append(compare(path, "delta", deltas[path], reference, 1e-10, 1e-6, magnitude))
    report = Report("benchmark", rows, 1e-10)
    times["engine and report"] = time.perf_counter() - start
    if not report.passed:
        raise SystemExit(f"cross-check failed for {sizes}:\n{report.table()}")
    times["total"] = sum(times.values())
    return times, len(exported.graph.nodes), len(plan.edges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per network (default: 5)")
    parser.add_argument(
        "--precision", type=int, help="digits of the exact side through mpmath (default: float64)"
    )
    args = parser.parse_args()

    exact = "float64" if args.precision is None else f"{args.precision} digits"
    print(f"Cross-check, batch {BATCH}, tanh, cross-entropy, exact side in {exact}; "
          f"median of {args.repeats} runs; Python {platform.python_version()} on "
          f"{platform.machine()}")
    print()
    columns = ("export", "local derivatives", "evaluate", "engine and report", "total")
    print("| network | nodes | edges | first run (s) | "
          + " | ".join(f"{c} (s)" for c in columns) + " |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in columns) + " |")
    for sizes in NETWORKS:
        runs = [phases(sizes, args.precision) for _ in range(args.repeats)]
        nodes, edges = runs[0][1], runs[0][2]
        medians = [statistics.median(run[0][c] for run in runs) for c in columns]
        cells = " | ".join(f"{value:.3f}" for value in medians)
        name = "-".join(map(str, sizes))
        print(f"| {name} | {nodes} | {edges} | {runs[0][0]['total']:.3f} | {cells} |")


if __name__ == "__main__":
    main()
