"""Cross-check the engine's gradients against exact symbolic ones, on a network trained on digits.

The script trains a small MLP on the bundled digits for a few epochs, then checks its
gradients on test images in two independent ways:

1. ``crosscheck`` exports the trained network with the images to a symbolic graph. A
   reverse sweep gives the exact gradient of every weight and the exact error term δ at
   every module's output, evaluated here with 50 significant digits through mpmath, and
   these are compared with the engine's float64 backward pass, entry by entry;
2. ``gradcheck_model`` compares the engine's gradients with central differences and the
   complex step.

Run: python examples/crosscheck.py [--epochs 3] [--images 2]
"""

from __future__ import annotations

import argparse
import sys

from propagate.check import crosscheck, gradcheck_model
from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, split_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    parser.add_argument("--images", type=int, default=2, help="test images checked (default 2)")
    parser.add_argument(
        "--digits", type=int, default=50,
        help="significant digits of the exact gradients (default 50)",
    )
    args = parser.parse_args(argv)

    config = TrainConfig(epochs=args.epochs, seed=0)
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    spec = MLPSpec(data.n_features, (args.hidden,), data.n_outputs, activation="tanh")
    trainer = Trainer(spec, data, config, progress=False)
    trainer.fit()
    print(
        f"trained a {'-'.join(map(str, spec.sizes))} tanh network for {args.epochs} epochs, "
        f"test accuracy {trainer.history[-1]['test_accuracy']:.1%}"
    )

    # The model takes standardised inputs, so the check uses them too.
    images = trainer.x_test[: args.images]
    labels = trainer.y_test[: args.images]

    exact = crosscheck(trainer.model, images, labels, "cross-entropy", precision=args.digits)
    print()
    print(exact)

    numeric = gradcheck_model(trainer.model, images, labels, "cross-entropy")
    print()
    print(numeric)

    passed = exact.passed and numeric.passed
    print()
    print("all checks passed" if passed else "some checks FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
