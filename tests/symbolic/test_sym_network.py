"""Dense networks: layer error terms satisfy the backpropagation recursion exactly."""

import numpy as np
import pytest
import sympy

from propagate.errors import GraphError, ShapeError
from propagate.symbolic import activation_derivative, dense_network


def _random_point(network, seed=0):
    rng = np.random.default_rng(seed)
    return {
        name: sympy.Rational(int(rng.integers(-900, 900)), 1000) for name in network.graph.inputs
    }


def _values(network, at):
    values = network.graph.values(at, dps=40)
    return {network.graph.symbol(name): value for name, value in values.items()}


@pytest.mark.parametrize("activations", [["sigmoid", "sigmoid"], ["tanh", "softplus"]])
def test_delta_recursion_exact(activations):
    net = dense_network([2, 3, 2], activations)
    delta_1, delta_2 = net.deltas
    f_prime = net.z[0].applyfunc(lambda zi: activation_derivative(activations[0], zi))
    recursion = (net.weights[1].T * delta_2).multiply_elementwise(f_prime)
    difference = (delta_1 - recursion).applyfunc(sympy.expand)
    assert difference == sympy.zeros(3, 1)


def test_delta_recursion_numeric_high_precision():
    net = dense_network([3, 4, 3, 2], ["gelu", "relu", "sigmoid"], batch=2)
    values = _values(net, _random_point(net, seed=3))
    for layer in (0, 1):
        activation = net.activations[layer]
        f_prime = net.z[layer].applyfunc(lambda zi, a=activation: activation_derivative(a, zi))
        recursion = (net.weights[layer + 1].T * net.deltas[layer + 1]).multiply_elementwise(f_prime)
        difference = (net.deltas[layer] - recursion).xreplace(values).evalf(40)
        assert max(abs(v) for v in difference) < sympy.Float(10) ** -35, layer


def test_output_delta_mse_sigmoid():
    net = dense_network([2, 3, 2], ["sigmoid", "sigmoid"])
    a, y = net.a[-1], sympy.Matrix([net.graph.symbol("y0"), net.graph.symbol("y1")])
    f_prime = net.z[-1].applyfunc(lambda zi: activation_derivative("sigmoid", zi))
    expected = (a - y).multiply_elementwise(f_prime)
    assert (net.deltas[-1] - expected).applyfunc(sympy.expand) == sympy.zeros(2, 1)


def test_output_delta_cross_entropy_is_softmax_minus_target():
    net = dense_network([2, 3], ["identity"], loss="cross-entropy", inputs=[0.5, -1.0], targets=2)
    at = {name: 0.1 * k for k, name in enumerate(net.graph.inputs)}
    values = _values(net, at)
    logits = np.array([float(v.xreplace(values)) for v in net.z[-1]])
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    delta = np.array([float(v.xreplace(values).evalf(30)) for v in net.deltas[-1]])
    np.testing.assert_allclose(delta, softmax - np.array([0, 0, 1]), rtol=1e-13, atol=1e-15)


def test_cross_entropy_one_hot_equals_index():
    inputs = [[0.5, -1.0], [0.2, 0.3]]
    by_index = dense_network([2, 3], ["softmax"], "cross-entropy", inputs, np.array([2, 0]))
    one_hot = dense_network([2, 3], ["identity"], "cross-entropy", inputs, [[0, 0, 1], [1, 0, 0]])
    at = {name: 0.1 * k for k, name in enumerate(by_index.graph.inputs)}
    assert by_index.graph.evaluate("L", at) == pytest.approx(one_hot.graph.evaluate("L", at))


def test_cross_entropy_stable_at_large_logits():
    net = dense_network([1, 2], ["identity"], "cross-entropy", [1.0], np.array([0]))
    compiled = net.graph.compile(["L"])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = compiled(0.0, 0.0, 0.0, 1000.0)[0]
    assert value == pytest.approx(1000.0)


def test_mse_batch_mean_half_square():
    net = dense_network([1, 1], ["identity"], inputs=[[1.0], [2.0]], targets=[[0.0], [0.0]])
    value = net.graph.evaluate("L", {"W1_0_0": 1.0, "b1_0": 0.0})
    assert value == pytest.approx((1.0 + 4.0) / 2 / 2)


def test_network_names():
    net = dense_network([2, 3, 1], ["sigmoid", "sigmoid"])
    assert net.graph.inputs[:3] == ("W1_0_0", "W1_0_1", "W1_1_0")
    assert "b2_0" in net.graph.inputs
    assert {"x0", "x1", "y0"} <= set(net.graph.inputs)
    assert {"z1_2", "a1_2", "z2_0", "a2_0", "L"} <= set(net.graph.nodes)


def test_network_batch_names():
    net = dense_network([2, 1], ["sigmoid"], batch=3)
    assert "z1_0_s2" in net.graph.nodes
    assert net.deltas[0].shape == (1, 3)


def test_network_parameters_order():
    net = dense_network([2, 1], ["relu"])
    assert net.parameters == ["W1_0_0", "W1_0_1", "b1_0"]


def test_network_4_8_3_batch_8_gradient():
    net = dense_network([4, 8, 3], ["sigmoid", "sigmoid"], batch=8)
    gradient = net.graph.gradient("L", net.parameters)
    assert len(gradient) == 4 * 8 + 8 + 8 * 3 + 3


def test_network_bad_activation():
    with pytest.raises(GraphError, match="unknown activation 'swish'"):
        dense_network([2, 1], ["swish"])


def test_network_softmax_needs_cross_entropy():
    with pytest.raises(GraphError, match="softmax"):
        dense_network([2, 2], ["softmax"], loss="mse")


def test_network_bad_loss():
    with pytest.raises(GraphError, match="unknown loss"):
        dense_network([2, 1], ["sigmoid"], loss="hinge")


def test_network_activation_count():
    with pytest.raises(GraphError, match="expected 2 activations"):
        dense_network([2, 3, 1], ["sigmoid"])


def test_network_input_shape():
    with pytest.raises(ShapeError, match="inputs must have shape"):
        dense_network([2, 1], ["sigmoid"], inputs=[1.0, 2.0, 3.0])


def test_network_class_index_range():
    with pytest.raises(ShapeError, match="class indices"):
        dense_network([2, 2], ["identity"], loss="cross-entropy", inputs=[1.0, 2.0], targets=2)


def test_gradient_values_match_compiled():
    net = dense_network([3, 4, 2], ["tanh", "sigmoid"], batch=2)
    rng = np.random.default_rng(5)
    at = {name: float(rng.normal()) for name in net.graph.inputs}
    exact = net.graph.gradient_values("L", at, wrt=net.parameters)
    adjoint = net.graph.adjoints("L")
    compiled = net.graph.compile([adjoint[name] for name in net.parameters])(**at)
    for name, value in zip(net.parameters, compiled, strict=True):
        assert float(value) == pytest.approx(exact[name], rel=1e-12, abs=1e-15), name


def test_gradient_values_50_digits():
    net = dense_network([2, 2, 1], ["sigmoid", "sigmoid"])
    at = {name: sympy.Rational(k + 1, 7) for k, name in enumerate(net.graph.inputs)}
    exact = net.graph.gradient_values("L", at, wrt=["W1_0_0"], dps=50)["W1_0_0"]
    full = net.graph.gradient("L", ["W1_0_0"])["W1_0_0"]
    reference = full.xreplace({net.graph.symbol(n): v for n, v in at.items()}).evalf(50)
    assert abs(exact - reference) < sympy.Float(10) ** -45


def test_gradient_values_missing_input():
    net = dense_network([1, 1], ["sigmoid"])
    with pytest.raises(GraphError, match="missing value"):
        net.graph.gradient_values("L", {"W1_0_0": 1.0})
