"""Activations: derivatives, kink conventions, high precision, printing and stable NumPy code."""

import math

import mpmath
import numpy as np
import pytest
import sympy

from propagate.symbolic import (
    Graph,
    gelu,
    leaky_relu,
    logsumexp,
    maximum,
    minimum,
    relu,
    relu_grad,
    sigmoid,
    softplus,
    to_text,
)

x, y, z = sympy.symbols("x y z", real=True)


def test_sigmoid_derivative_formula():
    assert sympy.diff(sigmoid(x), x) == sigmoid(x) * (1 - sigmoid(x))


def test_sigmoid_derivative_matches_textbook():
    textbook = sympy.diff(1 / (1 + sympy.exp(-x)), x)
    difference = (sympy.diff(sigmoid(x), x) - textbook).rewrite(sympy.exp)
    assert sympy.simplify(sigmoid(x).rewrite(sympy.exp) - 1 / (1 + sympy.exp(-x))) == 0
    assert sympy.simplify(difference.subs(sigmoid(x), 1 / (1 + sympy.exp(-x)))) == 0


def test_softplus_derivative_is_sigmoid():
    assert sympy.diff(softplus(x), x) == sigmoid(x)


def test_gelu_derivative_matches_erf_form():
    exact = x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2
    assert sympy.simplify(sympy.diff(gelu(x), x) - sympy.diff(exact, x)) == 0


def test_logsumexp_derivative_is_softmax():
    derivative = sympy.diff(logsumexp(x, y, z), y)
    value = derivative.subs({x: 1, y: 2, z: 3}).evalf(30)
    softmax = mpmath.exp(2) / (mpmath.exp(1) + mpmath.exp(2) + mpmath.exp(3))
    assert abs(float(value) - float(softmax)) < 1e-15


def test_relu_grad_at_zero_is_zero():
    assert sympy.diff(relu(x), x).subs(x, 0) == 0


def test_relu_grad_values():
    assert relu_grad(sympy.Rational(1, 10**9)) == 1
    assert relu_grad(sympy.Integer(-1)) == 0


def test_relu_at_zero():
    assert relu(sympy.Integer(0)) == 0


def test_leaky_relu_grad_at_zero_is_slope():
    assert sympy.diff(leaky_relu(x), x).subs(x, 0) == sympy.Rational(1, 100)


def test_leaky_relu_grad_custom_slope_at_zero():
    assert sympy.diff(leaky_relu(x, sympy.Rational(1, 5)), x).subs(x, 0) == sympy.Rational(1, 5)


def test_leaky_relu_grad_positive_is_one():
    assert sympy.diff(leaky_relu(x), x).subs(x, 2) == 1


def test_abs_grad_at_zero_is_zero():
    assert sympy.diff(sympy.Abs(x), x).subs(x, 0) == 0


def test_max_tie_splits_two():
    derivative = sympy.diff(maximum(x, y), x)
    assert derivative.subs({x: 1, y: 1}) == sympy.Rational(1, 2)


def test_max_tie_splits_three():
    derivative = sympy.diff(maximum(x, y, z), x)
    assert derivative.subs({x: 2, y: 2, z: 2}) == sympy.Rational(1, 3)


def test_max_tie_gradient_sums_to_one():
    f = maximum(x, y, z)
    total = sum(sympy.diff(f, s).subs({x: 2, y: 2, z: 1}) for s in (x, y, z))
    assert total == 1


def test_max_no_tie():
    assert sympy.diff(maximum(x, y), x).subs({x: 3, y: 1}) == 1
    assert sympy.diff(maximum(x, y), y).subs({x: 3, y: 1}) == 0


def test_max_same_argument_twice():
    assert sympy.diff(maximum(x, x), x).subs(x, 5) == 1


def test_min_tie_splits():
    assert sympy.diff(minimum(x, y), y).subs({x: 0, y: 0}) == sympy.Rational(1, 2)


def test_min_picks_smaller():
    assert sympy.diff(minimum(x, y), y).subs({x: 0, y: -1}) == 1


# Reference: mpmath evaluated directly at 60 digits.
HIGH_PRECISION_CASES = [
    (sigmoid, lambda v: 1 / (1 + mpmath.exp(-v))),
    (softplus, lambda v: mpmath.log(1 + mpmath.exp(v))),
    (gelu, lambda v: v * (1 + mpmath.erf(v / mpmath.sqrt(2))) / 2),
    (relu, lambda v: max(v, 0)),
]


@pytest.mark.parametrize(("function", "reference"), HIGH_PRECISION_CASES)
@pytest.mark.parametrize("point", ["1/3", "-7/5", "12"])
def test_evalf_50_digits(function, reference, point):
    value = function(sympy.Rational(point)).evalf(50)
    with mpmath.workdps(60):
        expected = reference(mpmath.mpf(sympy.Rational(point).p) / sympy.Rational(point).q)
        assert abs(mpmath.mpf(value) - expected) < mpmath.mpf(10) ** -48 * max(1, abs(expected))


def test_evalf_of_irrational_argument():
    value = sigmoid(sympy.pi).evalf(50)
    expected = (1 / (1 + sympy.exp(-sympy.pi))).evalf(50)
    assert abs(value - expected) < sympy.Float(10) ** -48


def test_logsumexp_evalf():
    value = logsumexp(sympy.Integer(1), sympy.Integer(2)).evalf(40)
    assert abs(value - sympy.log(sympy.E + sympy.E**2).evalf(40)) < sympy.Float(10) ** -38


def test_sigmoid_latex():
    assert sympy.latex(sigmoid(x)) == r"\sigma\left(x\right)"


def test_relu_latex():
    assert sympy.latex(relu(x)) == r"\operatorname{relu}\left(x\right)"


def test_activation_text():
    assert to_text(sigmoid(x) + leaky_relu(x)) == "leaky_relu(x, 1/100) + sigmoid(x)"


def test_max_text():
    assert str(maximum(x, y)) == "max(x, y)"


# Compiled code.


def _compiled(expr, points):
    graph = Graph()
    graph.add_inputs("x")
    return graph.compile([expr])(np.asarray(points, dtype=float))[0]


def test_compiled_relu_grad_at_zero():
    assert _compiled(sympy.diff(relu(x), x), [0.0]).tolist() == [0.0]


def test_compiled_relu_grad_sides():
    assert _compiled(sympy.diff(relu(x), x), [-1.0, 1e-300]).tolist() == [0.0, 1.0]


def test_compiled_leaky_grad_at_zero():
    assert _compiled(sympy.diff(leaky_relu(x), x), [0.0]).tolist() == [0.01]


def test_compiled_abs_grad_at_zero():
    assert _compiled(sympy.diff(sympy.Abs(x), x), [0.0]).tolist() == [0.0]


def test_compiled_max_tie():
    graph = Graph()
    graph.add_inputs("x y z")
    derivative = sympy.diff(maximum(x, y, z), x)
    compiled = graph.compile([derivative])
    result = compiled(np.array([1.0, 1.0, 3.0]), np.array([1.0, 0.0, 3.0]), 1.0)
    assert result[0].tolist() == [1 / 3, 1 / 2, 1 / 2]


def test_compiled_relu_keeps_nan():
    assert math.isnan(_compiled(relu(x), [np.nan])[0])


STABLE = [
    sigmoid(x),
    sympy.diff(sigmoid(x), x),
    softplus(x),
    sympy.diff(softplus(x), x),
    gelu(x),
    sympy.diff(gelu(x), x),
    relu(x),
    leaky_relu(x),
    sympy.tanh(x),
    logsumexp(x, 2 * x),
    sympy.diff(logsumexp(x, 2 * x), x),
]


@pytest.mark.parametrize("expr", STABLE, ids=str)
def test_compiled_stable_at_1000(expr):
    points = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    # Underflow to 0 is the correctly rounded result; overflow and NaN are errors.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = _compiled(expr, points)
    assert np.all(np.isfinite(values))


def test_compiled_sigmoid_extremes():
    values = _compiled(sigmoid(x), [-1000.0, 1000.0])
    assert values.tolist() == [0.0, 1.0]


def test_compiled_sigmoid_tail_relative_accuracy():
    value = _compiled(sigmoid(x), [-40.0])[0]
    expected = float(1 / (1 + mpmath.exp(40)))
    assert abs(value - expected) <= 1e-14 * expected


def test_compiled_softplus_large():
    assert _compiled(softplus(x), [1000.0]).tolist() == [1000.0]


@pytest.mark.parametrize("point", [-3.0, -0.5, 0.7, 2.0])
def test_compiled_gelu_matches_mpmath(point):
    expected = float(point * (1 + mpmath.erf(point / mpmath.sqrt(2))) / 2)
    assert _compiled(gelu(x), [point])[0] == pytest.approx(expected, rel=1e-14)


def test_lambdify_uses_stable_code():
    f = sympy.lambdify([x], [sigmoid(x), sympy.diff(relu(x), x)], modules="numpy")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = f(np.array([-1000.0, 0.0, 1000.0]))
    assert values[0].tolist() == [0.0, 0.5, 1.0]
    assert values[1].tolist() == [0.0, 0.0, 1.0]
