"""Exact gradients of a small dense network, with the chain rule printed path by path.

The network has 2 inputs, 2 hidden units and 1 output unit (sigmoid by default) and the
loss L = (a2 - y)²/2. The script builds it as a symbolic graph, prints every layer's error
term δ_l = ∂L/∂z_l, then for each weight the chain-rule paths from the weight to the loss
with their local factors, and evaluates them at fixed weights. A central difference of the
loss, computed in plain NumPy, is the independent check of every exact gradient.

Run: python examples/chain_rule.py [--activation tanh]
"""

from __future__ import annotations

import argparse

import numpy as np

from propagate.symbolic import dense_network

INPUT = [1.0, 0.5]
TARGET = [1.0]
# Weights W_l of shape (units of layer l, units of layer l-1), as torch.nn.Linear stores them.
WEIGHTS = [np.array([[0.15, 0.20], [0.25, 0.30]]), np.array([[0.40, 0.45]])]
BIASES = [np.array([0.35, 0.35]), np.array([0.60])]

NUMPY_ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),
}


def parameter_values(network) -> dict[str, float]:
    """Map every weight and bias symbol of ``network`` to its value in WEIGHTS and BIASES."""
    values = {}
    for symbols, numbers in zip(network.weights + network.biases, WEIGHTS + BIASES, strict=True):
        for symbol, number in zip(symbols, numbers.flat, strict=True):
            values[symbol.name] = float(number)
    return values


def numpy_loss(values: dict[str, float], activation: str) -> float:
    """Return the loss of the same network computed in plain NumPy."""
    f = NUMPY_ACTIVATIONS[activation]
    a = np.array(INPUT)
    for layer, weight in enumerate(WEIGHTS, start=1):
        rows, cols = weight.shape
        w = np.array([[values[f"W{layer}_{i}_{j}"] for j in range(cols)] for i in range(rows)])
        b = np.array([values[f"b{layer}_{i}"] for i in range(rows)])
        a = f(w @ a + b)
    return float(np.sum((a - np.array(TARGET)) ** 2) / 2)


def central_difference(values: dict[str, float], name: str, activation: str) -> float:
    """Return ∂L/∂name by a central difference with step 1e-6."""
    step = 1e-6
    up, down = dict(values), dict(values)
    up[name] += step
    down[name] -= step
    return (numpy_loss(up, activation) - numpy_loss(down, activation)) / (2 * step)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--activation", choices=sorted(NUMPY_ACTIVATIONS), default="sigmoid",
        help="activation of both layers (default sigmoid)",
    )
    args = parser.parse_args(argv)

    network = dense_network(
        [2, 2, 1], [args.activation] * 2, loss="mse", inputs=INPUT, targets=TARGET
    )
    graph = network.graph
    values = parameter_values(network)
    print(f"2-2-1 {args.activation} network, x = {INPUT}, y = {TARGET}, L = (a2 - y)^2/2")
    print(graph)

    print("\nerror terms δ_l = ∂L/∂z_l")
    for layer, deltas in enumerate(network.deltas, start=1):
        for unit, delta in enumerate(deltas):
            value = graph.evaluate(delta, values)
            print(f"  δ{layer}_{unit} = {delta}  = {value:.9f}")

    print("\nchain rule per parameter, exact value and central difference")
    exact = graph.gradient_values("L", values, wrt=network.parameters)
    largest = 0.0
    for name in network.parameters:
        chain = graph.chain("L", name)
        numeric = central_difference(values, name, args.activation)
        largest = max(largest, abs(exact[name] - numeric))
        print(chain)
        print(f"  = {exact[name]:.9f}   (central difference {numeric:.9f})")

    print(f"\nlargest |exact - central difference|: {largest:.1e}")


if __name__ == "__main__":
    main()
