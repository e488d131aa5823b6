"""Kink conventions and activation derivatives against PyTorch autograd (skipped without torch)."""

import numpy as np
import pytest
import sympy

from propagate.symbolic import Graph, gelu, leaky_relu, maximum, relu, sigmoid, softplus

torch = pytest.importorskip("torch")

x, y, z = sympy.symbols("x y z", real=True)
POINTS = [-3.0, -0.5, 0.0, 0.5, 3.0]


def _compiled_derivative(expr, points):
    graph = Graph()
    graph.add_inputs("x")
    return graph.compile([sympy.diff(expr, x)])(np.asarray(points))[0]


def _torch_derivative(function, points):
    t = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    function(t).sum().backward()
    return t.grad.numpy()


@pytest.mark.parametrize(
    ("expr", "function"),
    [
        (relu(x), torch.relu),
        (leaky_relu(x), lambda t: torch.nn.functional.leaky_relu(t, 0.01)),
        (sympy.Abs(x), torch.abs),
        (sigmoid(x), torch.sigmoid),
        (softplus(x), torch.nn.functional.softplus),
        (gelu(x), torch.nn.functional.gelu),
        (sympy.tanh(x), torch.tanh),
    ],
    ids=["relu", "leaky_relu", "abs", "sigmoid", "softplus", "gelu", "tanh"],
)
def test_derivative_matches_torch(expr, function):
    mine = _compiled_derivative(expr, POINTS)
    theirs = _torch_derivative(function, POINTS)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)


def test_max_tie_matches_torch_amax():
    values = [2.0, 2.0, 2.0, 1.0]
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    torch.amax(t).backward()
    symbols = sympy.symbols("p0:4", real=True)
    f = maximum(*symbols)
    point = dict(zip(symbols, values, strict=True))
    mine = [float(sympy.diff(f, s).subs(point)) for s in symbols]
    assert mine == t.grad.tolist()
