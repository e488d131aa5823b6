"""Gradients of every primitive against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numeric_gradient import assert_gradients_match

from propagate import nn
from propagate.nn import functional as F

rng = np.random.default_rng(12345)


def away_from_zero(shape, low=0.2, high=2.0):
    """Random values with |x| in [low, high], so kinks at 0 are out of the FD stencil."""
    magnitude = rng.uniform(low, high, size=shape)
    return magnitude * rng.choice([-1.0, 1.0], size=shape)


def positive(shape):
    return rng.uniform(0.5, 2.0, size=shape)


UNARY = {
    "neg": (lambda x: -x, away_from_zero),
    "exp": (lambda x: x.exp(), away_from_zero),
    "log": (lambda x: x.log(), positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "abs": (lambda x: abs(x), away_from_zero),
    "sigmoid": (F.sigmoid, away_from_zero),
    "tanh": (F.tanh, away_from_zero),
    "relu": (F.relu, away_from_zero),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), away_from_zero),
    "softplus": (F.softplus, away_from_zero),
    "gelu": (F.gelu, away_from_zero),
    "softmax_last": (lambda x: F.softmax(x, axis=-1), away_from_zero),
    "softmax_first": (lambda x: F.softmax(x, axis=0), away_from_zero),
    "log_softmax": (lambda x: F.log_softmax(x, axis=1), away_from_zero),
    "square": (lambda x: x**2, away_from_zero),
    "power_half": (lambda x: x**0.5, positive),
    "scalar_base_power": (lambda x: 2.0**x, away_from_zero),
    "scalar_divided": (lambda x: 3.0 / x, positive),
    "scalar_minus": (lambda x: 1.5 - x, away_from_zero),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradient(name):
    build, sample = UNARY[name]
    assert_gradients_match(build, sample((3, 4)))


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
]


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradient_broadcast(name, shapes):
    a_shape, b_shape = shapes
    assert_gradients_match(BINARY[name], positive(a_shape), positive(b_shape))


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
     ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2))],
    ids=str,
)
def test_matmul_gradient(a_shape, b_shape):
    assert_gradients_match(lambda a, b: a @ b, rng.normal(size=a_shape), rng.normal(size=b_shape))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
def test_reduction_gradient(reduction, axis, keepdims):
    x = rng.permutation(24).reshape(2, 3, 4) * 0.37  # distinct values: no ties for max
    assert_gradients_match(lambda t: getattr(t, reduction)(axis=axis, keepdims=keepdims), x)


def test_min_gradient():
    x = rng.permutation(12).reshape(3, 4) * 0.5
    assert_gradients_match(lambda t: t.min(axis=1), x)


def test_reshape_gradient():
    assert_gradients_match(lambda t: t.reshape(4, 3) * np.arange(12.0).reshape(4, 3),
                           rng.normal(size=(3, 4)))


@pytest.mark.parametrize("axes", [(), (1, 0, 2), (2, 0, 1), (0, -1, -2), (-1, 0, 1)], ids=str)
def test_transpose_gradient(axes):
    assert_gradients_match(lambda t: t.transpose(*axes), rng.normal(size=(2, 3, 4)))


def test_transpose_negative_axes_cube():
    # Equal axis lengths: a wrong inverse permutation would pass the shape check.
    assert_gradients_match(lambda t: t.transpose(-1, 0, 1), rng.normal(size=(2, 2, 2)))


@pytest.mark.parametrize(
    "index",
    [
        (slice(None), 1),
        (slice(1, None), slice(None, None, 2)),
        (Ellipsis, -1),
        (np.array([0, 2, 0]),),
        (np.array([0, 1, 1]), np.array([3, 3, 0])),
        (np.array([[True, False, True, False]] * 3),),
    ],
    ids=["column", "slices", "ellipsis", "repeated_rows", "pairs", "mask"],
)
def test_getitem_gradient(index):
    assert_gradients_match(lambda t: t[index], rng.normal(size=(3, 4)))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_gradient(axis):
    shapes = [(2, 3), (2, 3), (2, 3)]
    if axis == 0:
        shapes = [(1, 3), (2, 3), (3, 3)]
    arrays = [rng.normal(size=s) for s in shapes]
    assert_gradients_match(lambda *ts: F.concatenate(ts, axis=axis), *arrays)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_gradient(axis):
    arrays = [rng.normal(size=(2, 3)) for _ in range(3)]
    assert_gradients_match(lambda *ts: F.stack(ts, axis=axis), *arrays)


def test_reused_node_gradient():
    # y = x·x + x·sin-like reuse: x feeds three branches and a shared intermediate twice.
    def build(x):
        h = x * x
        return h * x + h + (h * 2.0).exp() * 0.01 + x

    assert_gradients_match(build, away_from_zero((2, 3), 0.1, 0.8))


def test_reused_node_exact():
    x = nn.Tensor(np.array([3.0]), requires_grad=True)
    y = x * x * x  # d/dx x³ = 3x² = 27
    y.sum().backward()
    assert x.grad[0] == 27.0


def test_composite_gradient():
    def build(x, w, b):
        h = F.tanh(x @ w + b)
        return F.log_softmax(h * h.sigmoid(), axis=1)

    assert_gradients_match(build, rng.normal(size=(4, 3)), rng.normal(size=(3, 5)),
                           rng.normal(size=(5,)))


# ---------------------------------------------------------------- conventions at kinks


def grad_of(build, values):
    x = nn.Tensor(np.array(values, dtype=np.float64), requires_grad=True)
    build(x).sum().backward()
    return x.grad


def test_relu_at_zero():
    assert grad_of(F.relu, [0.0])[0] == 0.0


def test_leaky_relu_at_zero():
    assert grad_of(lambda x: F.leaky_relu(x, 0.2), [0.0])[0] == 0.2


def test_leaky_relu_default_slope():
    assert grad_of(F.leaky_relu, [-1.0, 0.0])[0] == 0.01


def test_abs_at_zero():
    assert grad_of(abs, [0.0])[0] == 0.0


def test_max_ties_split_evenly():
    grad = grad_of(lambda x: x.max(), [1.0, 3.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(grad, [0.0, 1 / 3, 1 / 3, 1 / 3, 0.0])


def test_max_ties_along_axis():
    grad = grad_of(lambda x: x.max(axis=1), [[5.0, 5.0], [1.0, 2.0]])
    np.testing.assert_array_equal(grad, [[0.5, 0.5], [0.0, 1.0]])


def test_max_nan_slice_gradient_is_nan():
    # torch.amax and jax.numpy.max give NaN to every entry of a slice whose maximum is NaN.
    x = nn.Tensor(np.array([[1.0, np.nan], [2.0, 0.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    assert np.all(np.isnan(x.grad[0]))
    np.testing.assert_array_equal(x.grad[1], [1.0, 0.0])


def test_gelu_exact_erf_value():
    # GELU(1) = Φ(1) = 0.8413447460685429 (standard normal CDF at 1).
    x = nn.Tensor(np.array([1.0]))
    assert F.gelu(x).item() == pytest.approx(0.8413447460685429, rel=1e-15)


def test_pow_zero_base_exponent_gradient():
    base = nn.Tensor(np.array([0.0, 2.0]))
    exponent = nn.Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (base**exponent).sum().backward()
    # d(0**b)/db is taken as 0, d(2**3)/db = 8·ln 2.
    np.testing.assert_allclose(exponent.grad, [0.0, 8 * np.log(2.0)])


def test_pow_zero_exponent_base_gradient():
    # x**0 is the constant 1, so its derivative is 0 even at x = 0 (PyTorch agrees).
    x = nn.Tensor(np.array([0.0, 3.0]), requires_grad=True)
    (x**0.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_pow_zero_base_negative_exponent_gradient():
    # 0**b = inf for b < 0, so d/db = inf * log(0) = -inf, as in PyTorch.
    base = nn.Tensor(np.array([0.0]))
    exponent = nn.Tensor(np.array([-1.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        (base**exponent).sum().backward()
    np.testing.assert_array_equal(exponent.grad, [-np.inf])


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "softmax", "log_softmax"])
def test_stable_at_large_inputs(name):
    x = nn.Tensor(np.array([[-1000.0, 0.0, 1000.0]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = getattr(F, name)(x)
        out.sum().backward()
    assert np.all(np.isfinite(out.data))
    assert np.all(np.isfinite(x.grad))


def test_sigmoid_large_values():
    out = F.sigmoid(nn.Tensor(np.array([-1000.0, 1000.0]))).data
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_softplus_large_values():
    out = F.softplus(nn.Tensor(np.array([-1000.0, 1000.0]))).data
    np.testing.assert_array_equal(out, [0.0, 1000.0])


# ---------------------------------------------------------------- random broadcasting


@st.composite
def broadcastable_pair(draw):
    ndim = draw(st.integers(0, 3))
    full = draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))

    def operand():
        drop = draw(st.integers(0, ndim))  # leading axes left out
        kept = full[drop:]
        return tuple(1 if draw(st.booleans()) else n for n in kept)

    return operand(), operand()


@settings(max_examples=40, deadline=None)
@given(shapes=broadcastable_pair(), op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 99))
def test_broadcast_gradient_random_shapes(shapes, op, seed):
    local = np.random.default_rng(seed)
    a = local.uniform(0.5, 2.0, size=shapes[0])
    b = local.uniform(0.5, 2.0, size=shapes[1])
    assert_gradients_match(BINARY[op], a, b, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shapes=broadcastable_pair(), seed=st.integers(0, 99))
def test_unbroadcast_shapes(shapes, seed):
    local = np.random.default_rng(seed)
    a = nn.Tensor(local.normal(size=shapes[0]), requires_grad=True)
    b = nn.Tensor(local.normal(size=shapes[1]), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == a.shape
    assert b.grad.shape == b.shape


# ---------------------------------------------------------------- random graphs

# Bounded or slowly growing operations, so that chains of them stay well scaled for
# finite differences.
GRAPH_UNARY = [F.tanh, F.sigmoid, F.softplus, F.gelu, lambda t: (t * 0.3).exp()]
GRAPH_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * F.tanh(b),
    lambda a, b: a / (b * b + 1.0),
    lambda a, b: F.softmax(a * b, axis=-1),
]


@st.composite
def random_graph(draw):
    """A list of steps; each applies an operation to earlier nodes, chosen with reuse."""
    step = st.tuples(st.booleans(), st.integers(0, 4), st.integers(0, 50), st.integers(0, 50))
    return draw(st.lists(step, min_size=1, max_size=8))


def graph_function(steps):
    def build(x, y):
        nodes = [x, y]
        for unary, op, i, j in steps:
            a = nodes[i % len(nodes)]
            if unary:
                nodes.append(GRAPH_UNARY[op](a))
            else:
                nodes.append(GRAPH_BINARY[op](a, nodes[j % len(nodes)]))
        return nodes[-1] * nodes[len(nodes) // 2] + nodes[-1]

    return build


@settings(max_examples=40, deadline=None)
@given(steps=random_graph(), seed=st.integers(0, 99))
def test_random_graph_gradient(steps, seed):
    local = np.random.default_rng(seed)
    x = local.uniform(-1.5, 1.5, size=(3,))
    y = local.uniform(-1.5, 1.5, size=(2, 1))
    assert_gradients_match(graph_function(steps), x, y, rtol=1e-5, atol=1e-7, seed=seed)
