"""Compilation to NumPy: pointwise agreement, broadcasting, argument handling."""

import numpy as np
import pytest
import sympy

from propagate.errors import GraphError, ShapeError
from propagate.symbolic import Graph


@pytest.fixture
def neuron():
    return Graph.from_text({"z": "w*x + b", "a": "sigmoid(z)", "L": "(a - y)**2/2"})


def test_compile_matches_evaluate(neuron):
    rng = np.random.default_rng(1)
    values = {name: rng.normal(size=20) for name in neuron.inputs}
    gradient = neuron.gradient("L")
    compiled = neuron.compile(["L", *gradient.values()])
    results = compiled(**values)
    for k in range(20):
        at = {name: float(values[name][k]) for name in neuron.inputs}
        assert results[0][k] == pytest.approx(neuron.evaluate("L", at), rel=1e-13)
        for index, name in enumerate(neuron.inputs, start=1):
            expected = neuron.evaluate(gradient[name], at)
            assert results[index][k] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_compile_adjoints_match_gradient(neuron):
    adjoint = neuron.adjoints("L")
    gradient = neuron.gradient("L")
    args = (np.array([0.3, -2.0]), 1.5, np.array([0.1, 0.2]), 1.0)
    from_adjoints = neuron.compile([adjoint[n] for n in neuron.inputs])(*args)
    from_gradient = neuron.compile([gradient[n] for n in neuron.inputs])(*args)
    for left, right in zip(from_adjoints, from_gradient, strict=True):
        np.testing.assert_allclose(left, right, rtol=1e-14)


def test_compile_constant_broadcasts(neuron):
    result = neuron.compile([sympy.Integer(3), "x"])(np.zeros((2, 3)), 1.0, 0.0, 0.0)
    assert result[0].shape == (2, 3)
    assert np.all(result[0] == 3.0)
    assert result[1].shape == (2, 3)


def test_compile_constant_derivative_is_full_array():
    g = Graph.from_text(["L = 2*x + y"])
    result = g.compile(list(g.gradient("L").values()))(np.arange(5.0), np.arange(5.0))
    assert [r.shape for r in result] == [(5,), (5,)]
    assert result[0].tolist() == [2.0] * 5


def test_compile_returns_float64(neuron):
    result = neuron.compile(["L"])(np.float32(1), np.float32(2), 0, 1)
    assert result[0].dtype == np.float64


def test_compile_positional_equals_keywords(neuron):
    compiled = neuron.compile(["L"])
    assert compiled(1.0, 2.0, 0.5, 1.0)[0] == compiled(w=1.0, x=2.0, b=0.5, y=1.0)[0]


def test_compile_custom_input_order(neuron):
    compiled = neuron.compile(["z"], inputs=["b", "x", "w", "y"])
    assert compiled(1.0, 2.0, 3.0, 0.0)[0] == 7.0


def test_compile_missing_input(neuron):
    with pytest.raises(GraphError, match="missing inputs"):
        neuron.compile(["L"])(w=1.0, x=1.0, b=1.0)


def test_compile_input_not_listed(neuron):
    with pytest.raises(GraphError, match="need inputs"):
        neuron.compile(["L"], inputs=["w", "x", "b"])


def test_compile_node_as_input(neuron):
    with pytest.raises(GraphError, match="node, not an input"):
        neuron.compile(["L"], inputs=["z", "y"])


def test_compile_shapes_do_not_broadcast(neuron):
    with pytest.raises(ShapeError, match="broadcast"):
        neuron.compile(["L"])(np.zeros(2), np.zeros(3), 0.0, 0.0)


def test_compile_wrong_count(neuron):
    with pytest.raises(GraphError, match="expected 4 inputs"):
        neuron.compile(["L"])(1.0)


def test_compile_reuses_node_values(neuron):
    source = neuron.compile([neuron.adjoints("L")["w"]]).source
    assert source.count("logaddexp") == 1


def test_compile_source_has_no_user_names():
    g = Graph.from_text(["lambda_ = import_ * 2"])
    assert "import_" not in g.compile(["lambda_"]).source


def test_compile_sympy_name_collisions():
    g = Graph.from_text(["L = E*lambda + N"])
    assert g.compile(["L"])(E=2.0, **{"lambda": 3.0}, N=1.0)[0] == 7.0


def test_compile_1e5_points_one_call(neuron):
    n = 100_000
    rng = np.random.default_rng(0)
    args = [rng.normal(size=n) for _ in neuron.inputs]
    results = neuron.compile(list(neuron.gradient("L").values()))(*args)
    assert all(r.shape == (n,) for r in results)
