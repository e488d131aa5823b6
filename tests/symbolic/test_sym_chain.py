"""Chain-rule paths: enumeration, sum equals the gradient, text, LaTeX and values."""

import math

import pytest
import sympy

from propagate.errors import GraphError
from propagate.symbolic import Graph, sigmoid


@pytest.fixture
def diamond():
    # x feeds u and v, both feed L, and x also feeds L directly: three paths.
    return Graph.from_text(["u = x**2", "v = sin(x)", "L = u*v + x"])


@pytest.fixture
def neuron():
    return Graph.from_text({"z": "w*x + b", "a": "sigmoid(z)", "L": "(a - y)**2/2"})


def test_chain_diamond_path_count(diamond):
    assert len(diamond.chain("L", "x").paths) == 3


def test_chain_diamond_sum_equals_gradient(diamond):
    chain = diamond.chain("L", "x")
    total = diamond.expression(chain.total)
    assert sympy.simplify(total - diamond.gradient("L")["x"]) == 0


def test_chain_diamond_sum_equals_sympy_diff(diamond):
    x = diamond.symbol("x")
    total = diamond.expression(diamond.chain("L", "x").total)
    assert sympy.simplify(total - sympy.diff(x**2 * sympy.sin(x) + x, x)) == 0


def test_chain_diamond_values_sum(diamond):
    value = diamond.chain("L", "x").evaluate({"x": 0.7})
    assert sum(value.paths) == pytest.approx(value.total, rel=1e-15)
    assert value.total == pytest.approx(diamond.evaluate(diamond.gradient("L")["x"], {"x": 0.7}))


def test_chain_diamond_path_values(diamond):
    value = diamond.chain("L", "x").evaluate({"x": 0.7})
    expected = sorted([math.sin(0.7) * 2 * 0.7, 0.7**2 * math.cos(0.7), 1.0])
    assert sorted(value.paths) == pytest.approx(expected, rel=1e-14)


def test_chain_neuron_names_and_factors(neuron):
    (path,) = neuron.chain("L", "w").paths
    a, z, y, x = (neuron.symbol(n) for n in ("a", "z", "y", "x"))
    assert path.names == ("L", "a", "z", "w")
    assert path.factors == (a - y, sigmoid(z) * (1 - sigmoid(z)), x)


def test_chain_neuron_text(neuron):
    text = str(neuron.chain("L", "w"))
    assert text == "∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w = (a - y) · (1 - σ(z))*σ(z) · x"


def test_chain_neuron_latex(neuron):
    latex = neuron.chain("L", "w").latex()
    assert latex.startswith(r"\frac{\partial L}{\partial w} = ")
    assert r"\sigma\left(z\right)" in latex


def test_chain_repr_latex_is_math(neuron):
    rendered = neuron.chain("L", "w")._repr_latex_()
    assert rendered.startswith("$")
    assert rendered.endswith("$")


def test_chain_single_factor_text():
    g = Graph.from_text(["f = x*y"])
    assert str(g.chain("f", "x")) == "∂f/∂x = y"


def test_chain_no_path():
    g = Graph.from_text(["L = x"], inputs=["x", "y"])
    chain = g.chain("L", "y")
    assert chain.paths == []
    assert "no path" in str(chain)
    assert chain.evaluate({"x": 1.0, "y": 2.0}).total == 0.0


def test_chain_too_many_paths():
    # Each layer doubles the number of paths: 2**12 paths from x to the last node.
    lines = ["a0 = x"]
    for k in range(1, 13):
        lines += [f"p{k} = sin(a{k - 1})", f"q{k} = cos(a{k - 1})", f"a{k} = p{k} + q{k}"]
    g = Graph.from_text(lines)
    with pytest.raises(GraphError, match="more than 100"):
        g.chain("a12", "x", max_paths=100)


def test_chain_evaluate_missing_value(neuron):
    with pytest.raises(GraphError, match="missing value"):
        neuron.chain("L", "w").evaluate({"w": 1.0})


def test_chain_value_not_real_raises():
    chain = Graph.from_text({"f": "sqrt(x)"}).chain("f", "x")
    with pytest.raises(GraphError) as info:
        chain.evaluate({"x": 0.0})
    assert "path 1" in str(info.value)
