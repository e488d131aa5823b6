"""Behaviour of the backward sweep: accumulation, hooks, graph modes and error checks."""

from __future__ import annotations

import numpy as np
import pytest

from propagate import nn
from propagate.errors import GradientError, NonFiniteError, ShapeError
from propagate.nn.autograd import Primitive, register


def leaf(values):
    return nn.Tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_backward_twice_same_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum() * 3.0  # dy/dx = 6x
    y.backward()
    first = x.grad.copy()
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad, first)


def test_backward_twice_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_fresh_graphs_agree():
    w = leaf([[0.5, -1.0], [2.0, 0.25]])
    grads = []
    for _ in range(2):
        w.grad = None
        (nn.tanh(w @ np.array([1.0, 2.0]))).sum().backward()
        grads.append(w.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_deep_chain_no_recursion_limit():
    x = leaf([0.5])
    y = x
    for _ in range(20000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_backward_non_scalar_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(GradientError, match="one-element"):
        (x * 2.0).backward()


def test_backward_explicit_grad():
    x = leaf([1.0, 2.0])
    (x * 3.0).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad, [3.0, -3.0])


def test_backward_explicit_grad_wrong_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2,\)"):
        (x * 3.0).backward(np.ones(3))


def test_backward_without_requires_grad():
    with pytest.raises(GradientError, match="requires_grad=True"):
        nn.Tensor(np.ones(2)).sum().backward()


def test_requires_grad_on_integers_rejected():
    with pytest.raises(GradientError, match="int64"):
        nn.Tensor(np.arange(3), requires_grad=True)


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with nn.no_grad():
        y = x * 2.0
    assert not y.requires_grad
    assert y.is_leaf


def test_no_grad_restores_mode():
    with nn.no_grad():
        assert not nn.is_grad_enabled()
    assert nn.is_grad_enabled()


def test_no_grad_decorator():
    @nn.no_grad()
    def double(t):
        return t * 2.0

    assert not double(leaf([1.0])).requires_grad


def test_no_grad_decorator_recursive():
    @nn.no_grad()
    def depth(n):
        return depth(n - 1) if n else nn.is_grad_enabled()

    assert depth(3) is False
    assert nn.is_grad_enabled()


def test_no_grad_same_instance_nested():
    switch = nn.no_grad()
    with switch:
        with switch:
            pass
        assert not nn.is_grad_enabled()
    assert nn.is_grad_enabled()


def test_detect_anomaly_decorator_recursive():
    @nn.detect_anomaly()
    def depth(n):
        return depth(n - 1) if n else nn.is_anomaly_enabled()

    assert depth(2) is True
    assert not nn.is_anomaly_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with nn.no_grad(), nn.enable_grad():
        y = x * 2.0
    assert y.requires_grad


def test_detach_cuts_graph():
    x = leaf([2.0])
    y = x * x.detach()  # only the first factor carries a gradient
    y.sum().backward()
    assert x.grad[0] == 2.0


def test_detach_shares_data():
    x = leaf([2.0])
    assert x.detach().data is x.data


def test_retain_grad_intermediate():
    x = leaf([1.0, -2.0])
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, 2 * h.data)


def test_intermediate_grad_not_kept_by_default():
    x = leaf([1.0])
    h = x * 3.0
    (h * h).sum().backward()
    assert h.grad is None


def test_hook_sees_full_adjoint():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    (h + h * h).sum().backward()  # d/dh = 1 + 2h
    np.testing.assert_array_equal(seen[0], 1 + 2 * h.data)


def test_hook_replaces_gradient():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    h.register_hook(lambda g: g * 0.0)
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_hook_remove():
    x = leaf([1.0])
    h = x * 2.0
    handle = h.register_hook(lambda g: g * 10.0)
    handle.remove()
    h.sum().backward()
    assert x.grad[0] == 2.0


def test_hook_wrong_shape_rejected():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    h.register_hook(lambda g: np.ones(3))
    with pytest.raises(ShapeError, match="hook"):
        h.sum().backward()


def test_hook_on_leaf():
    x = leaf([1.0])
    x.register_hook(lambda g: g + 1.0)
    (x * 2.0).sum().backward()
    assert x.grad[0] == 3.0


@register
class _BadShape(Primitive):
    name = "test_bad_shape"

    @staticmethod
    def forward(a):
        return a.copy(), None

    @staticmethod
    def vjp(g, ctx, needs):
        return (g[:-1],)


@register
class _BadDtype(Primitive):
    name = "test_bad_dtype"

    @staticmethod
    def forward(a):
        return a.copy(), None

    @staticmethod
    def vjp(g, ctx, needs):
        return (g.astype(np.float32),)


def test_vjp_shape_checked():
    x = leaf([1.0, 2.0])
    y = nn.tensor.apply("test_bad_shape", x)
    with pytest.raises(ShapeError, match=r"'test_bad_shape'.*\(1,\).*\(2,\)"):
        y.sum().backward()


def test_vjp_dtype_checked():
    x = leaf([1.0, 2.0])
    y = nn.tensor.apply("test_bad_dtype", x)
    with pytest.raises(GradientError, match=r"'test_bad_dtype'.*float32.*float64"):
        y.sum().backward()


def test_anomaly_names_operation():
    x = leaf([0.0, 1.0])
    y = x.sqrt().sum()  # d sqrt(x)/dx = 1/(2 sqrt x) is infinite at 0
    with np.errstate(divide="ignore"), nn.detect_anomaly():
        with pytest.raises(NonFiniteError, match="'sqrt'"):
            y.backward()


def test_anomaly_off_by_default():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad[0])


def test_item_scalar():
    assert leaf([[2.5]]).item() == 2.5


def test_item_rejects_many_elements():
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        leaf([1.0, 2.0]).item()


def test_bool_of_single_zero_is_false():
    # Same as bool(torch.tensor([0.0])) and bool(np.array([0.0])).
    assert not nn.Tensor([0.0])
    assert nn.Tensor(2.0)


def test_bool_of_many_elements_rejected():
    with pytest.raises(ShapeError, match=r"ambiguous"):
        bool(nn.Tensor([0.0, 1.0]))


def test_numpy_returns_data():
    x = leaf([1.0])
    assert x.numpy() is x.data


def test_array_on_left_of_operator():
    x = leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, nn.Tensor)


def test_array_on_left_gradient():
    x = leaf([1.0, 2.0])
    (np.array([3.0, 4.0]) * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_reshape_invalid_names_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4,\)"):
        nn.Tensor(np.ones((2, 3))).reshape(4)


def test_matmul_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        nn.Tensor(np.ones((2, 3))) @ nn.Tensor(np.ones((4, 5)))


def test_matmul_scalar_operand_message():
    with pytest.raises(ShapeError, match=r"at least 1 dimension, got shapes \(\) and \(3,\)"):
        nn.Tensor(2.0) @ nn.Tensor(np.ones(3))


def test_stack_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"\(2,\).*\(3,\)"):
        nn.stack([nn.Tensor(np.ones(2)), nn.Tensor(np.ones(3))])


def test_reduction_axis_out_of_range():
    with pytest.raises(ShapeError, match="axis 2"):
        nn.Tensor(np.ones((2, 3))).sum(axis=2)


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.softmax(axis=2),
        lambda t: t.log_softmax(axis=-3),
        lambda t: t.transpose(0, 2),
        lambda t: nn.stack([t, t], axis=4),
    ],
    ids=["softmax", "log_softmax", "transpose", "stack"],
)
def test_bad_axis_names_operation(call):
    with pytest.raises(ShapeError, match=r"(softmax|transpose|stack): axis .*\(2, 3\)"):
        call(nn.Tensor(np.ones((2, 3))))


def test_concatenate_bad_axis_message():
    with pytest.raises(ShapeError, match=r"axis 3 is out of range for shape \(2,\)"):
        nn.concatenate([nn.Tensor(np.ones(2)), nn.Tensor(np.ones(2))], axis=3)


def test_concatenate_scalars_suggests_stack():
    with pytest.raises(ShapeError, match="use stack"):
        nn.concatenate([nn.Tensor(1.0), nn.Tensor(2.0)])


def test_reduction_repeated_axis_rejected():
    with pytest.raises(ShapeError, match="same axis twice"):
        nn.Tensor(np.ones((2, 3))).sum(axis=(0, -2))


def test_reduction_scalar_axis_zero():
    # PyTorch accepts dim 0 and -1 on a 0-d tensor and returns it unchanged.
    x = nn.Tensor(np.array(2.0), requires_grad=True)
    x.sum(axis=0).backward()
    assert x.grad == 1.0


def test_max_over_empty_axis_names_shape():
    with pytest.raises(ShapeError, match=r"max: .*length 0 in shape \(0, 3\)"):
        nn.Tensor(np.ones((0, 3))).max()


def test_primitive_registry_names():
    expected = {
        "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "matmul",
        "sum", "mean", "max", "reshape", "transpose", "getitem", "concatenate", "stack",
        "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "gelu", "softmax", "log_softmax",
    }
    assert expected <= set(nn.PRIMITIVES)


def test_broadcast_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        nn.Tensor(np.ones((2, 3))) + nn.Tensor(np.ones(4))


def test_integer_negative_power_error_kept():
    with pytest.raises(ValueError, match="negative integer powers"):
        nn.Tensor(np.array([2])) ** nn.Tensor(np.array([-1]))


def test_concatenate_mismatch_names_shapes():
    with pytest.raises(ShapeError, match=r"\[\(2, 3\), \(2, 4\)\] along axis 0"):
        nn.concatenate([nn.Tensor(np.ones((2, 3))), nn.Tensor(np.ones((2, 4)))])


def test_numpy_ufunc_on_tensor_rejected():
    with pytest.raises(TypeError):
        np.exp(leaf([1.0]))


def test_asarray_of_tensor():
    np.testing.assert_array_equal(np.asarray(leaf([1.0, 2.0])), [1.0, 2.0])


def test_anomaly_names_recording_line():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"), nn.detect_anomaly():
        y = x.sqrt().sum()
        with pytest.raises(NonFiniteError, match=r"recorded at .*test_backward\.py:\d+"):
            y.backward()
