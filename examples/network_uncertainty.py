"""Uncertainty of a trained network's predictions from the uncertainty of its input pixels.

A network is a measurement model too: if every pixel of a digit image has a standard
uncertainty u (in grey levels, pixels range over 0 to 16), its predicted probabilities are
uncertain as well. The script trains a small MLP on the bundled digits, saves it, restores
it with ``load_trained`` and, for a few test images, propagates u to the probability of the
predicted class in two ways:

- first order (GUM), Σ_p = J Σ_x Jᵀ, with the Jacobian from the engine's backward pass;
- Monte Carlo (GUM Supplement 1): normal draws of the pixels through the network.

For small u the two agree. For large u the network is far from linear over the spread of
its inputs, so first order is wrong.

Run: python examples/network_uncertainty.py [--pixel-std 0.01 0.5] [--images 4]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from propagate.check import monte_carlo_covariance
from propagate.check.trained import load_trained
from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, split_data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pixel-std", type=float, nargs="+", default=[0.01, 0.5],
        help="standard uncertainty of every pixel in grey levels (default 0.01 0.5)",
    )
    parser.add_argument("--images", type=int, default=4, help="test images (default 4)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument(
        "--samples", type=int, default=20_000, help="Monte Carlo draws per image (default 20000)"
    )
    args = parser.parse_args(argv)
    if any(std < 0 for std in args.pixel_std):
        parser.error("--pixel-std values must be >= 0")

    config = TrainConfig(epochs=args.epochs, seed=0)
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    spec = MLPSpec(data.n_features, (32,), data.n_outputs, activation="relu")
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(spec, data, config, out_dir=folder, progress=False)
        trainer.fit()
        network = load_trained(folder)
    print(
        f"trained a {'-'.join(map(str, spec.sizes))} ReLU network for {args.epochs} epochs, "
        f"test accuracy {trainer.history[-1]['test_accuracy']:.1%}"
    )

    images = data.x_test[: args.images]
    labels = data.y_test[: args.images]
    for pixel_std in args.pixel_std:
        first = network.output_uncertainty(images, pixel_std)
        _, covariance = monte_carlo_covariance(
            network.model,
            network.standardise(images),
            input_std=network.input_std(pixel_std),
            samples=args.samples,
        )
        print(f"\nu = {pixel_std:g} grey levels per pixel: u(p) of the predicted class")
        print(f"{'image':>5} {'label':>5} {'class':>5} {'p':>7} {'first order':>12} "
              f"{'Monte Carlo':>12} {'ratio':>7}")
        for n in range(len(images)):
            k = int(np.argmax(first.values[n]))
            monte_carlo = float(np.sqrt(covariance[n, k, k]))
            ratio = first.std[n, k] / monte_carlo if monte_carlo > 0 else float("nan")
            print(
                f"{n:5d} {labels[n]:5d} {k:5d} {first.values[n, k]:7.4f} "
                f"{first.std[n, k]:12.2e} {monte_carlo:12.2e} {ratio:7.2f}"
            )


if __name__ == "__main__":
    main()
