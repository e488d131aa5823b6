"""gradcheck: central differences and complex step against the engine's VJPs."""

import numpy as np
import pytest

from propagate import nn
from propagate.check import central_step, gradcheck, gradcheck_model
from propagate.check.networks import build_network, random_batch
from propagate.nn.ops.activation import Tanh

EPS = np.finfo(np.float64).eps


def test_central_step_rule():
    x = np.array([0.0, 0.5, -3.0, 1e4])
    h = central_step(x)
    expected = EPS ** (1 / 3) * np.maximum(1.0, np.abs(x))
    np.testing.assert_allclose(h, expected, rtol=1e-10)


def test_central_step_exact():
    x = np.array([0.1, 1.7, -123.456])
    h = central_step(x)
    np.testing.assert_array_equal((x + h) - x, h)


def test_analytic_function_passes():
    rng = np.random.default_rng(0)
    x = nn.Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    w = nn.Tensor(rng.normal(size=(2, 4)), requires_grad=True)
    report = gradcheck(lambda x, w: nn.tanh(x @ w.T), [x, w], names=["x", "w"])
    assert report.passed, report.table()
    assert [row.name for row in report.rows] == [
        "x (central differences)",
        "w (central differences)",
        "x (complex step)",
        "w (complex step)",
    ]


def test_complex_step_near_exact():
    # d/dx sum(exp(x)) = exp(x), an exact reference.
    x = np.array([0.3, -1.2, 2.0])
    report = gradcheck(lambda t: t.exp().sum(), [x])
    row = report.row("input0 (complex step)")
    assert row.max_rel_error < 1e-14
    assert report.row("input0 (central differences)").max_rel_error < 1e-8


def test_full_jacobian_shape():
    x = np.array([[0.1, 0.2, 0.3]])
    report = gradcheck(lambda t: nn.tanh(t) * 2.0, [x])
    assert report.row("input0 (central differences)").shape == (3, 1, 3)


def test_projections_shape():
    x = np.random.default_rng(1).normal(size=(4, 3))
    report = gradcheck(lambda t: nn.log_softmax(t, axis=1), [x], projections=2)
    assert report.passed, report.table()
    assert report.row("input0 (central differences)").shape == (2, 4, 3)


def test_complex_step_unavailable_reported():
    # The engine's sigmoid works on |x|, so complex inputs lose their imaginary part.
    x = np.array([0.4, -0.7])
    report = gradcheck(lambda t: nn.sigmoid(t).sum(), [x])
    assert report.passed, report.table()
    assert not any("complex step" in row.name for row in report.rows)
    assert "complex step not used" in report.notes[0]


def test_complex_step_not_analytic():
    # softplus takes |x| inside: complex-step derivatives come out wrong, so they are dropped.
    x = np.array([0.4, -0.7])
    report = gradcheck(lambda t: nn.softplus(t).sum(), [x])
    assert report.passed, report.table()
    assert "differs from central differences" in report.notes[0]


def test_complex_step_forced_off():
    report = gradcheck(lambda t: t.exp().sum(), [np.array([0.1])], complex_step=False)
    assert len(report.rows) == 1
    assert report.notes == []


def test_only_inputs_requiring_grad():
    a = nn.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = nn.Tensor(np.array([3.0, 4.0]))
    report = gradcheck(lambda a, b: (a * b).sum(), [a, b], names=["a", "b"])
    assert {row.name.split()[0] for row in report.rows} == {"a"}


def test_planted_bug_names_input(monkeypatch):
    def wrong_vjp(g, out, needs):
        return (g * (1 - out),)

    monkeypatch.setattr(Tanh, "vjp", staticmethod(wrong_vjp))
    x = nn.Tensor(np.array([0.3, -0.8, 1.1]), requires_grad=True)
    w = nn.Tensor(np.array([0.5, 0.2, -0.4]), requires_grad=True)
    report = gradcheck(lambda x, w: (nn.tanh(x) * w).sum(), [x, w], names=["x", "w"])
    assert not report.passed
    assert "x (central differences)" in report.failed
    assert "x (complex step)" in report.failed
    assert "w (central differences)" not in report.failed


def test_model_planted_bug_names_tensor(monkeypatch):
    sizes = (3, 4, 2)
    model = build_network(sizes, "tanh", seed=2)
    x, y = random_batch(sizes, "mse", 3, seed=2)
    assert gradcheck_model(model, x, y, "mse").passed

    def wrong_vjp(g, out, needs):
        return (g * (1 - out),)

    monkeypatch.setattr(Tanh, "vjp", staticmethod(wrong_vjp))
    report = gradcheck_model(model, x, y, "mse")
    assert "0.weight (central differences)" in report.failed
    assert "0.bias (central differences)" in report.failed
    assert "2.weight (central differences)" not in report.failed


def test_model_parameters_restored():
    model = build_network((2, 3, 2), "gelu", seed=3)
    x, y = random_batch((2, 3, 2), "cross-entropy", 2, seed=3)
    report = gradcheck_model(model, x, y, "cross-entropy")
    assert report.passed, report.table()
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())


def test_integer_input_rejected():
    with pytest.raises(ValueError, match="floating-point"):
        gradcheck(lambda t: t.sum(), [np.array([1, 2])])


def test_non_tensor_output_rejected():
    with pytest.raises(TypeError, match="returns a Tensor"):
        gradcheck(lambda t: 1.0, [np.array([1.0])])
