"""``propagate demo``: the library's main job end to end on the bundled data.

Six steps, each printing a headline and its key numbers. They are the chain rule for one
neuron, a GUM uncertainty budget with correlated inputs, and training on the digits with
the gradient monitor. Then come the cross-check of the trained network against exact
symbolic gradients, the diagnosis of its gradient flow, and the uncertainty of its
predictions. Plots are written
when matplotlib is installed.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_OUT = "runs/demo"

NEURON = {"z": "w*x + b", "a": "sigmoid(z)", "L": "(a - y)^2/2"}
NEURON_POINT = {"w": 0.5, "x": 1.5, "b": 0.1, "y": 1.0}

GUM_MODEL = {
    "R": "V/(I*1e-3)*cos(phi)",
    "X": "V/(I*1e-3)*sin(phi)",
    "Z": "V/(I*1e-3)",
}
# JCGM 100:2008, Annex H.2, Table H.4: value and standard uncertainty in ohm.
GUM_PUBLISHED = {"R": (127.732, 0.071), "X": (219.847, 0.295), "Z": (254.260, 0.236)}

# Standard uncertainty of each digit pixel, in grey levels (pixels range over 0..16).
PIXEL_STD = 0.5
PREDICTION_IMAGES = 3
MC_SAMPLES = 10_000
# Largest difference between first-order and Monte Carlo u(p) taken as agreement; the Monte
# Carlo standard deviation itself has a relative sampling error of about 1/sqrt(2 M) = 0.7%.
LINEARITY_TOLERANCE = 0.005
CROSSCHECK_BATCH = 2
# Significant digits of the exact side of the cross-check. A trained network is confident,
# so p - y in its output error term cancels. Float64 evaluation of the exact expressions
# then loses more digits than the engine does, so mpmath evaluates them instead.
CROSSCHECK_DIGITS = 50


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the main job end to end on the bundled data",
        description="Derive the chain rule for one neuron, propagate the uncertainty of the "
        "GUM H.2 measurement, train a network on the digits with the gradient monitor, "
        "cross-check its gradients against exact symbolic ones, diagnose its gradient flow "
        "and propagate pixel uncertainty to its predictions.",
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for logs, checkpoint and plots ({DEFAULT_OUT})"
    )
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, weights, shuffles (0)")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    out = Path(args.out)
    started = time.perf_counter()

    show_chain_rule()
    show_gum_budget()
    trainer, monitor = train_digits(out, args.epochs, args.seed)
    crosscheck_trained(trainer)
    diagnose_trained(monitor)
    predict_with_uncertainty(trainer)
    if not args.no_plots:
        write_plots(out)

    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s; run files in {out}")
    return 0


def _headline(number: int, text: str) -> None:
    print(f"\n== {number}. {text}")


def show_chain_rule() -> None:
    """Print ∂L/∂w of one sigmoid neuron, path by path, and check it by central differences."""
    from propagate.symbolic import Graph

    _headline(1, "Chain rule for one neuron: z = w*x + b, a = sigmoid(z), L = (a - y)^2/2")
    graph = Graph.from_text(NEURON)
    chain = graph.chain("L", "w")
    print(chain)

    exact = chain.evaluate(NEURON_POINT).total
    h = 1e-6
    loss = graph.compile(["L"])
    plus = loss(**{**NEURON_POINT, "w": NEURON_POINT["w"] + h})[0]
    minus = loss(**{**NEURON_POINT, "w": NEURON_POINT["w"] - h})[0]
    central = float(plus - minus) / (2 * h)
    point = ", ".join(f"{name}={value}" for name, value in NEURON_POINT.items())
    print(f"at {point}: dL/dw = {float(exact):.10f} (central difference {central:.10f})")


def show_gum_budget() -> None:
    """Propagate the GUM H.2 readings to R, X and Z and compare with the published values."""
    from propagate.uncertainty import propagate_uncertainty, read_readings

    _headline(2, "Uncertainty budget: GUM H.2 resistance and reactance, correlated readings")
    readings_file = resources.files("propagate.data").joinpath("gum_h2_readings.csv")
    with resources.as_file(readings_file) as path:
        readings = read_readings(path)
    result = propagate_uncertainty(
        GUM_MODEL,
        readings.quantities(),
        covariance=readings.covariance,
        outputs=list(GUM_MODEL),
    )

    print(f"{readings.count} sets of readings of {', '.join(readings.names)}; first order")
    print("output      value       u      GUM value   GUM u")
    for name, (published_value, published_std) in GUM_PUBLISHED.items():
        output = result[name]
        print(
            f"{name:<6} {output.value:>10.3f} {output.std:>7.3f}"
            f"   {published_value:>10.3f} {published_std:>7.3f}"
        )
    correlation = np.asarray(result.correlation)
    print(
        f"r(R,X) = {correlation[0, 1]:.3f}, r(R,Z) = {correlation[0, 2]:.3f}, "
        f"r(X,Z) = {correlation[1, 2]:.3f} (GUM: -0.588, -0.485, 0.993)"
    )
    top = max(result["X"].budget, key=lambda row: abs(row.share))
    print(f"largest share of u(X)^2: {top.input} with {100 * top.share:.0f}%")


def train_digits(out: Path, epochs: int, seed: int):
    """Train the default MLP on the digits with a gradient monitor on every 5th step."""
    from propagate.nn.data import load_digits
    from propagate.nn.models import MLPSpec
    from propagate.nn.monitor import attach_monitor
    from propagate.nn.train import TrainConfig, Trainer, split_data

    config = TrainConfig(epochs=epochs, seed=seed)
    _headline(3, f"Training a 64-64-32-10 ReLU network on the digits for {epochs} epochs")
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    spec = MLPSpec(data.n_features, (64, 32), data.n_outputs, "relu")

    out.mkdir(parents=True, exist_ok=True)
    for stale in ("checkpoint.npz", "checkpoint.json", "history.jsonl", "monitor.jsonl"):
        (out / stale).unlink(missing_ok=True)
    trainer = Trainer(spec, data, config, out_dir=out, metadata={"data": "digits"})
    monitor = attach_monitor(trainer, every=5)
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started

    final = trainer.history[-1]
    print(
        f"{len(data.x_train)} training and {len(data.x_test)} test images, "
        f"{trainer.step} Adam steps in {seconds:.1f} s"
    )
    print(
        f"test accuracy {100 * final['test_accuracy']:.1f}%, "
        f"test loss {final['test_loss']:.4f}; checkpoint {trainer.checkpoint_path}"
    )
    return trainer, monitor


def crosscheck_trained(trainer) -> None:
    """Compare the trained engine's gradients with the exact reverse sweep of its graph."""
    from propagate import nn
    from propagate.check import crosscheck

    _headline(4, "Cross-check: engine gradients vs exact symbolic gradients of the trained net")
    # The images the network is least sure of: on a confident prediction the output error
    # p - y is a difference of nearly equal numbers, and its float64 rounding, not the chain
    # rule, would dominate the comparison.
    with nn.no_grad():
        logits = trainer.model(nn.Tensor(trainer.x_test)).data
    top_two = np.sort(logits, axis=1)[:, -2:]
    chosen = np.argsort(top_two[:, 1] - top_two[:, 0])[:CROSSCHECK_BATCH]
    x = trainer.x_test[chosen].astype(np.float64)
    y = trainer.y_test[chosen]
    started = time.perf_counter()
    report = crosscheck(trainer.model, x, y, "cross-entropy", precision=CROSSCHECK_DIGITS)
    seconds = time.perf_counter() - started

    parameters = sum(p.data.size for p in trainer.model.parameters())
    worst = max(row.max_rel_error for row in report.rows)
    verdict = "passed" if report.passed else "FAILED"
    print(
        f"{parameters} parameters, the {CROSSCHECK_BATCH} least certain test images, "
        f"{len(report.rows)} tensors and δ terms compared with the exact reverse sweep "
        f"in {CROSSCHECK_DIGITS}-digit arithmetic in {seconds:.1f} s"
    )
    print(f"{verdict}: largest relative error {worst:.2e} (tolerance {report.rtol:.0e})")


def diagnose_trained(monitor) -> None:
    """Diagnose the gradient flow from the monitor's records."""
    from propagate.nn.diagnosis import diagnose, format_report

    _headline(5, "Gradient-flow diagnosis of the training run")
    records = monitor.records
    last = records[-1]
    norms = ", ".join(
        f"Linear {layer.name}: {layer.grad_norm:.2e}" for layer in last.layers if layer.grad_norm
    )
    print(f"gradient norms per layer at step {last.step}, input to output: {norms}")
    print(format_report(diagnose(records), records))


def predict_with_uncertainty(trainer) -> None:
    """Propagate a pixel standard uncertainty to the class probabilities of test images.

    First order (J Σ Jᵀ with the engine's Jacobian) is compared with Monte Carlo through
    the engine to test whether the linearisation holds.
    """
    from propagate.check import monte_carlo_covariance, output_uncertainty

    _headline(6, "Prediction uncertainty from pixel uncertainty: first order vs Monte Carlo")
    x = trainer.x_test[:PREDICTION_IMAGES].astype(np.float64)
    labels = trainer.y_test[:PREDICTION_IMAGES]
    # The network takes standardised pixels, so a raw uncertainty is divided by the scale.
    scale = np.asarray(trainer.x_scaler.scale, dtype=np.float64)

    first = output_uncertainty(trainer.model, x, input_std=PIXEL_STD / scale)
    mc_mean, mc_cov = monte_carlo_covariance(
        trainer.model, x, input_std=PIXEL_STD / scale, samples=MC_SAMPLES, seed=0
    )
    mc_std = np.sqrt(np.diagonal(mc_cov, axis1=1, axis2=2))
    print(f"u(pixel) = {PIXEL_STD} grey levels on every pixel (pixels range over 0..16)")
    for row, label in enumerate(labels):
        predicted = int(np.argmax(first.values[row]))
        print(
            f"image {row}: label {int(label)}, predicted {predicted}: "
            f"first order p = {first.values[row, predicted]:.4f} ± "
            f"{first.std[row, predicted]:.4f}, Monte Carlo p = "
            f"{mc_mean[row, predicted]:.4f} ± {mc_std[row, predicted]:.4f}"
        )

    gap = np.max(np.abs(first.std - mc_std))
    verdict = "adequate" if gap <= LINEARITY_TOLERANCE else "not adequate"
    print(
        f"first order {verdict}: largest difference in u(p) {gap:.4f} "
        f"(tolerance {LINEARITY_TOLERANCE}, {MC_SAMPLES} Monte Carlo draws per image)"
    )
    if verdict == "not adequate":
        print(
            f"why: some pixels are almost always 0 in training, so their standardisation "
            f"scale is {scale.min():.3f} grey levels and {PIXEL_STD} grey levels there moves "
            "the network far from its training data; trust the Monte Carlo result"
        )


def write_plots(out: Path) -> None:
    """Draw the run's plots, or print how to install matplotlib when it is missing."""
    from propagate.errors import MissingDependencyError
    from propagate.nn.plots import plot_run

    try:
        paths = plot_run(out)
    except MissingDependencyError as exc:
        print(f"\nplots skipped: {exc}")
        return
    print(f"\nplots: {', '.join(str(path) for path in paths)}")
