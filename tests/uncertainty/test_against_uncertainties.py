"""First-order results against the ``uncertainties`` package on random smooth models."""

import numpy as np
import pytest
import uncertainties
from hypothesis import given, settings
from hypothesis import strategies as st
from uncertainties import umath

from propagate.uncertainty import propagate_uncertainty

NAMES = ("x", "y", "z")

# Each operation: (text template, function on UFloats). Denominators and logarithm
# arguments are kept away from 0 by construction.
UNARY = [
    ("sin({})", umath.sin),
    ("cos({})", umath.cos),
    ("tanh({})", umath.tanh),
    ("exp({})", umath.exp),
    ("log(1 + ({})^2)", lambda a: umath.log(1 + a**2)),
    ("sqrt(1 + ({})^2)", lambda a: umath.sqrt(1 + a**2)),
    ("atan({})", umath.atan),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b),
    ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b),
    ("({}) / (1 + ({})^2)", lambda a, b: a / (1 + b**2)),
]


def trees(depth):
    leaf = st.sampled_from(NAMES).map(lambda name: (name, lambda env, n=name: env[n]))
    if depth == 0:
        return leaf
    sub = trees(depth - 1)
    unary = st.tuples(st.sampled_from(UNARY), sub).map(
        lambda args: (
            args[0][0].format(args[1][0]),
            lambda env, f=args[0][1], g=args[1][1]: f(g(env)),
        )
    )
    binary = st.tuples(st.sampled_from(BINARY), sub, sub).map(
        lambda args: (
            args[0][0].format(args[1][0], args[2][0]),
            lambda env, f=args[0][1], g=args[1][1], h=args[2][1]: f(g(env), h(env)),
        )
    )
    return st.one_of(leaf, unary, binary)


values = st.floats(0.3, 2.0)
stds = st.floats(1e-4, 0.2)
coefficients = st.floats(-0.3, 0.3)  # off-diagonals <= 0.3 keep a 3x3 matrix positive definite


def assert_close(actual, expected, scale):
    # Cancellation between terms bounds the attainable agreement by the terms' size.
    assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12 * scale)


@settings(max_examples=100, deadline=None)
@given(
    model=trees(3),
    xs=st.tuples(values, values, values),
    us=st.tuples(stds, stds, stds),
    rs=st.one_of(st.none(), st.tuples(coefficients, coefficients, coefficients)),
)
def test_random_model(model, xs, us, rs):
    text, function = model
    correlation = np.eye(3)
    if rs is not None:
        correlation[0, 1] = correlation[1, 0] = rs[0]
        correlation[0, 2] = correlation[2, 0] = rs[1]
        correlation[1, 2] = correlation[2, 1] = rs[2]
    numbers = uncertainties.correlated_values_norm(list(zip(xs, us, strict=True)), correlation)
    expected = function(dict(zip(NAMES, numbers, strict=True)))
    if not isinstance(expected, uncertainties.UFloat):
        return  # the expression reduced to a constant

    inputs = {name: (x, u) for name, x, u in zip(NAMES, xs, us, strict=True)}
    pairs = None if rs is None else {("x", "y"): rs[0], ("x", "z"): rs[1], ("y", "z"): rs[2]}
    result = propagate_uncertainty(["f = " + text], inputs, pairs)
    out = result["f"]
    scale = sum(abs(v) for v in expected.error_components().values()) or 1.0
    assert_close(out.value, expected.nominal_value, abs(expected.nominal_value) + 1.0)
    assert_close(out.std, expected.std_dev, scale)


@settings(max_examples=40, deadline=None)
@given(
    first=trees(2),
    second=trees(2),
    xs=st.tuples(values, values, values),
    us=st.tuples(stds, stds, stds),
    r=coefficients,
)
def test_output_covariance(first, second, xs, us, r):
    correlation = np.eye(3)
    correlation[0, 1] = correlation[1, 0] = r
    numbers = uncertainties.correlated_values_norm(list(zip(xs, us, strict=True)), correlation)
    env = dict(zip(NAMES, numbers, strict=True))
    outputs = [first[1](env), second[1](env)]
    if not all(isinstance(o, uncertainties.UFloat) for o in outputs):
        return
    expected = np.array(uncertainties.covariance_matrix(outputs))

    inputs = {name: (x, u) for name, x, u in zip(NAMES, xs, us, strict=True)}
    result = propagate_uncertainty(
        {"a": first[0], "b": second[0]}, inputs, {("x", "y"): r}, outputs=["a", "b"]
    )
    scale = np.sqrt(np.outer(np.diag(np.abs(expected)), np.diag(np.abs(expected))))
    terms = [sum(abs(v) for v in o.error_components().values()) for o in outputs]
    bound = 1e-12 * np.outer(terms, terms) + 1e-12 * scale
    assert np.all(np.abs(result.covariance - expected) <= bound)
