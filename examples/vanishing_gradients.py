"""Vanishing gradients in a deep sigmoid network, measured by the monitor and diagnosed.

Two networks of the same shape (``--depth`` hidden layers of 32 units) train on the bundled
digits with plain SGD in a hand-written loop, with a Monitor recording every step:

- sigmoid units with weights drawn from N(0, 1). Every layer multiplies the error term δ by
  Wᵀ and by σ'(z) ≤ 1/4, and large pre-activations saturate σ. So δ shrinks layer by layer
  on its way back to the input;
- ReLU units with He initialisation, which keeps the size of δ about constant with depth.

The script prints the median ‖δ‖ per layer of both networks and the diagnosis of each run.

Run: python examples/vanishing_gradients.py [--depth 10] [--steps 60]
"""

from __future__ import annotations

import argparse

import numpy as np

from propagate import nn
from propagate.nn.data import Standardizer, iterate_batches, load_digits, train_test_split
from propagate.nn.diagnosis import diagnose, format_report
from propagate.nn.monitor import Monitor

WIDTH = 32
BATCH_SIZE = 64
LEARNING_RATE = 0.1


def build(kind: str, depth: int, rng: np.random.Generator) -> nn.Sequential:
    """Build ``depth`` hidden layers of sigmoid (N(0, 1) weights) or ReLU (He) units."""
    modules = []
    fan_in = 64
    for _ in range(depth):
        layer = nn.Linear(fan_in, WIDTH, rng=rng, dtype=np.float32)
        if kind == "sigmoid":
            nn.init.normal_(layer.weight, 0.0, 1.0, rng=rng)
            modules += [layer, nn.Sigmoid()]
        else:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", rng=rng)
            modules += [layer, nn.ReLU()]
        nn.init.zeros_(layer.bias)
        fan_in = WIDTH
    modules.append(nn.Linear(fan_in, 10, rng=rng, dtype=np.float32))
    return nn.Sequential(*modules)


def train(model, x, y, steps: int, rng: np.random.Generator) -> Monitor:
    """Train with plain SGD for ``steps`` steps and return the monitor with every record."""
    optimizer = nn.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    monitor = Monitor(every=1).attach(model)
    step = 0
    while step < steps:
        for x_batch, y_batch in iterate_batches(x, y, BATCH_SIZE, rng, drop_last=True):
            step += 1
            optimizer.zero_grad()
            loss = nn.cross_entropy(model(nn.Tensor(x_batch)), y_batch)
            loss.backward()
            monitor.record(step, loss, lr=optimizer.lr)  # after backward, before the update
            optimizer.step()
            monitor.after_update()  # adds the update-to-weight ratio
            if step == steps:
                break
    monitor.close()
    return monitor


def median_delta_norms(monitor: Monitor) -> list[float]:
    """Return the median over steps of ‖δ‖ = ‖∂L/∂z‖ of each Linear layer, input first."""
    norms = np.array([[layer.delta_norm for layer in record.layers] for record in monitor.records])
    return np.median(norms, axis=0).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10, help="hidden layers (default 10)")
    parser.add_argument("--steps", type=int, default=60, help="SGD steps (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, weights, batches")
    args = parser.parse_args(argv)
    if args.depth < 2 or args.steps < 1:
        parser.error("--depth must be at least 2 and --steps at least 1")

    x, y = load_digits()
    x_train, _, y_train, _ = train_test_split(x, y, 0.2, seed=args.seed, stratify=True)
    x_train = Standardizer().fit_transform(x_train)

    monitors = {}
    for kind in ("sigmoid", "relu"):
        rng = np.random.default_rng(args.seed)
        monitors[kind] = train(build(kind, args.depth, rng), x_train, y_train, args.steps, rng)

    norms = {kind: median_delta_norms(monitor) for kind, monitor in monitors.items()}
    print(f"median ||δ|| per layer over {args.steps} SGD steps ({args.depth} hidden layers)")
    print(f"{'layer':>6} {'sigmoid':>10} {'relu':>10}")
    for index in range(args.depth + 1):
        label = "out" if index == args.depth else str(index + 1)
        print(f"{label:>6} {norms['sigmoid'][index]:10.2e} {norms['relu'][index]:10.2e}")
    for kind, values in norms.items():
        print(f"{kind}: first layer / last layer = {values[0] / values[-1]:.2g}")

    for kind, monitor in monitors.items():
        print(f"\n== {kind}")
        print(format_report(diagnose(monitor.records), monitor.records))


if __name__ == "__main__":
    main()
