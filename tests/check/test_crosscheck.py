"""Cross-check of engine gradients and δ terms against the exact reverse sweep."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propagate import nn
from propagate.check import crosscheck, engine_gradients, exact_gradients, export_model
from propagate.check.crosscheck import gather
from propagate.check.networks import ACTIVATIONS, build_network, random_batch
from propagate.nn.ops.activation import Tanh


@st.composite
def architectures(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    return {
        "sizes": sizes,
        "activation": draw(st.sampled_from(sorted(ACTIVATIONS))),
        "loss": draw(st.sampled_from(["mse", "bce", "cross-entropy"])),
        "layernorm": draw(st.booleans()),
        "residual": draw(st.booleans()),
        "batch": draw(st.integers(1, 4)),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=20, deadline=None)
@given(architectures())
def test_random_architectures_agree(arch):
    model = build_network(
        arch["sizes"], arch["activation"], arch["layernorm"], arch["residual"], arch["seed"]
    )
    x, y = random_batch(arch["sizes"], arch["loss"], arch["batch"], arch["seed"])
    report = crosscheck(model, x, y, arch["loss"], rtol=1e-10)
    assert report.passed, report.table()


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_agrees(activation):
    sizes = (3, 5, 4, 2)
    model = build_network(sizes, activation, layernorm=True, residual=True, seed=11)
    x, y = random_batch(sizes, "cross-entropy", 3, seed=11)
    report = crosscheck(model, x, y, "cross-entropy")
    assert report.passed, report.table()


def test_rows_cover_parameters_and_deltas():
    model = build_network((3, 4, 2), "tanh", seed=1)
    x, y = random_batch((3, 4, 2), "mse", 2, seed=1)
    report = crosscheck(model, x, y, "mse")
    names = [row.name for row in report.rows]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "δ 0", "δ 1", "δ 2", "δ output"]
    assert report.row("0.weight").shape == (4, 3)
    assert report.row("δ 0").shape == (2, 4)


def test_delta_equals_exact():
    sizes = (3, 4, 4, 2)
    model = build_network(sizes, "gelu", layernorm=True, residual=True, seed=2)
    x, y = random_batch(sizes, "bce", 3, seed=2)
    exported = export_model(model, x, y, "bce")
    sweep = exact_gradients(exported)
    paths = [path for path in exported.layers if path != "output"]
    _, deltas, _ = engine_gradients(model, x, y, "bce", paths)
    assert set(deltas) == set(paths)
    for path in paths:
        exact = gather(exported, sweep, exported.layers[path])
        np.testing.assert_allclose(deltas[path], exact, rtol=1e-10, atol=1e-16, err_msg=path)


def test_delta_of_output_is_loss_gradient():
    # For mean softmax cross-entropy, δ of the logits is (softmax(z) - onehot(t)) / N.
    model = build_network((3, 4, 3), "tanh", seed=3)
    x, y = random_batch((3, 4, 3), "cross-entropy", 4, seed=3)
    exported = export_model(model, x, y, "cross-entropy")
    sweep = exact_gradients(exported)
    logits = model(nn.Tensor(x)).data
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected = (probabilities - np.eye(3)[y]) / 4
    np.testing.assert_allclose(gather(exported, sweep, exported.output), expected, rtol=1e-12)


def test_fifty_digits_agree_with_float64():
    sizes = (3, 4, 3)
    model = build_network(sizes, "sigmoid", layernorm=True, residual=True, seed=4)
    x, y = random_batch(sizes, "cross-entropy", 3, seed=4)
    exported = export_model(model, x, y, "cross-entropy")
    fast = exact_gradients(exported)
    precise = exact_gradients(exported, precision=50)
    assert precise.dps == 50
    for name in exported.entries:
        reference = float(precise.adjoints[name])
        assert abs(fast.adjoints[name] - reference) <= 1e-10 * max(abs(reference), 1e-6), name


def test_fifty_digit_report_passes():
    sizes = (2, 3, 2)
    model = build_network(sizes, "softplus", seed=5)
    x, y = random_batch(sizes, "mse", 2, seed=5)
    report = crosscheck(model, x, y, "mse", precision=50)
    assert report.passed, report.table()
    assert "50 digits" in report.title


def test_planted_backward_bug_caught(monkeypatch):
    sizes = (3, 4, 2)
    model = build_network(sizes, "tanh", seed=6)
    x, y = random_batch(sizes, "cross-entropy", 3, seed=6)

    def wrong_vjp(g, out, needs):
        return (g * (1 - out),)  # the true derivative is 1 - out²

    monkeypatch.setattr(Tanh, "vjp", staticmethod(wrong_vjp))
    report = crosscheck(model, x, y, "cross-entropy")
    assert not report.passed
    assert "0.weight" in report.failed
    assert "0.bias" in report.failed
    assert "δ 0" in report.failed
    # Layers after the tanh are not affected by its backward.
    assert "2.weight" not in report.failed
    assert report.worst.startswith(("0.", "δ 0"))


def test_float32_model_unchanged():
    model = build_network((3, 4, 2), "relu", seed=7).to(np.float32)
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    x, y = random_batch((3, 4, 2), "cross-entropy", 2, seed=7)
    report = crosscheck(model, x, y, "cross-entropy")
    assert report.passed, report.table()
    for name, parameter in model.named_parameters():
        assert parameter.data.dtype == np.float32
        np.testing.assert_array_equal(parameter.data, before[name])


def test_report_to_dict():
    model = build_network((2, 2), "tanh", seed=8)
    x, y = random_batch((2, 2), "mse", 1, seed=8)
    data = crosscheck(model, x, y, "mse").to_dict()
    assert data["passed"] is True
    assert data["rtol"] == 1e-10
    assert data["floor"] == 1e-6
    assert {row["name"] for row in data["rows"]} >= {"0.weight", "0.bias"}
    assert set(data["rows"][0]) >= {"shape", "max_abs_error", "max_rel_error", "worst_index"}


def test_unknown_loss_rejected():
    model = build_network((2, 2), "tanh")
    with pytest.raises(ValueError, match="unknown loss"):
        crosscheck(model, np.ones((1, 2)), np.ones((1, 2)), "hinge")


def test_shared_modules():
    # One Tanh module used twice and one Linear layer applied twice share symbols.
    rng = np.random.default_rng(9)
    square = nn.Linear(3, 3, rng=rng)
    act = nn.Tanh()
    model = nn.Sequential(square, act, square, act, nn.Linear(3, 2, rng=rng))
    x, y = random_batch((3, 2), "cross-entropy", 2, seed=9)
    report = crosscheck(model, x, y, "cross-entropy")
    assert report.passed, report.table()
    assert "0.weight" in [row.name for row in report.rows]
    assert any("'1'" in note for note in report.notes)


def test_cancellation_within_magnitude():
    # LayerNorm over 2 units leaves the first layer's weight gradient near 1e-7, the
    # difference of contributions near 1, so float64 rounding alone is 1e-16 there.
    sizes = [1, 2, 4, 3]
    model = build_network(sizes, "gelu", layernorm=True, seed=3611)
    x, y = random_batch(sizes, "mse", 2, seed=3611)
    exported = export_model(model, x, y, "mse")
    sweep = exact_gradients(exported, precision=50)
    symbols = exported.parameter_symbols["0.weight"]
    assert abs(float(sweep.adjoints[symbols[0, 0]])) < 1e-6
    assert sweep.magnitudes[symbols[0, 0]] > 1.0
    report = crosscheck(model, x, y, "mse")
    assert report.passed, report.table()


def test_magnitudes_bound_adjoints():
    sizes = (3, 4, 4, 2)
    model = build_network(sizes, "tanh", layernorm=True, residual=True, seed=10)
    x, y = random_batch(sizes, "cross-entropy", 3, seed=10)
    sweep = exact_gradients(export_model(model, x, y, "cross-entropy"))
    for name, adjoint in sweep.adjoints.items():
        assert abs(adjoint) <= sweep.magnitudes[name] * (1 + 1e-12), name
