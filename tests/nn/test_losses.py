"""Losses against exact values: MSE, binary cross-entropy with logits, softmax cross-entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numeric_gradient import assert_gradients_match

from propagate import nn
from propagate.errors import DataError, ShapeError

rng = np.random.default_rng(3)


def test_mse_value():
    loss = nn.mse_loss(nn.Tensor(np.array([1.0, 2.0, 4.0])), np.array([1.0, 0.0, 1.0]))
    assert loss.item() == pytest.approx((0 + 4 + 9) / 3, rel=1e-15)


def test_mse_gradient():
    y = rng.normal(size=(4, 2))
    assert_gradients_match(lambda p: nn.mse_loss(p, y), rng.normal(size=(4, 2)))


def test_mse_shape_mismatch():
    with pytest.raises(ShapeError, match=r"\(4,\).*\(4, 1\)"):
        nn.mse_loss(nn.Tensor(np.ones((4, 1))), np.ones(4))


def test_mse_module_sum():
    loss = nn.MSELoss(reduction="sum")(nn.Tensor(np.array([1.0, 3.0])), np.zeros(2))
    assert loss.item() == 10.0


def test_unknown_reduction():
    with pytest.raises(ValueError, match="'median'"):
        nn.mse_loss(nn.Tensor(np.ones(2)), np.ones(2), reduction="median")


@pytest.mark.parametrize(
    "logit, target, expected",
    [(0.0, 1.0, math.log(2)), (0.0, 0.0, math.log(2)), (1000.0, 0.0, 1000.0),
     (-1000.0, 1.0, 1000.0), (1000.0, 1.0, 0.0), (2.0, 0.25, math.log1p(math.exp(2)) - 0.5)],
)
def test_bce_exact_values(logit, target, expected):
    loss = nn.bce_with_logits(nn.Tensor(np.array([logit])), np.array([target]))
    assert loss.item() == pytest.approx(expected, rel=1e-14, abs=1e-300)


def test_bce_gradient_is_sigmoid_minus_target():
    logits = nn.Tensor(np.array([-1000.0, 0.0, 3.0, 1000.0]), requires_grad=True)
    target = np.array([1.0, 1.0, 0.0, 0.0])
    nn.bce_with_logits(logits, target).backward()
    sigmoid = np.array([0.0, 0.5, 1 / (1 + math.exp(-3.0)), 1.0])
    np.testing.assert_allclose(logits.grad, (sigmoid - target) / 4, rtol=1e-15)


def test_bce_gradient_finite_differences():
    y = rng.uniform(size=(3, 2))
    assert_gradients_match(lambda x: nn.bce_with_logits(x, y), rng.normal(size=(3, 2)))


def test_bce_integer_target():
    loss = nn.bce_with_logits(nn.Tensor(np.zeros(2)), np.array([0, 1]))
    assert loss.item() == pytest.approx(math.log(2), rel=1e-15)


def test_cross_entropy_value():
    logits = np.array([[1.0, 2.0, 3.0]])
    expected = -(3.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3)))
    loss = nn.cross_entropy(nn.Tensor(logits), np.array([2]))
    assert loss.item() == pytest.approx(expected, rel=1e-15)


def test_cross_entropy_large_logits():
    logits = nn.Tensor(np.array([[1000.0, -1000.0, 0.0]] * 3), requires_grad=True)
    loss = nn.cross_entropy(logits, np.array([0, 1, 2]))
    loss.backward()
    # Per row: -log softmax = 0, 2000, 1000 exactly (e^-1000 underflows to 0 beside 1).
    assert loss.item() == pytest.approx(1000.0, rel=1e-15)
    # ∂/∂logits = (softmax - one_hot) / batch, softmax = (1, 0, 0) in every row.
    expected = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [1.0, 0.0, -1.0]]) / 3
    np.testing.assert_array_equal(logits.grad, expected)


def test_cross_entropy_gradient():
    target = np.array([0, 2, 1, 2])
    assert_gradients_match(lambda x: nn.cross_entropy(x, target), rng.normal(size=(4, 3)))


def test_cross_entropy_probability_target():
    logits = rng.normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    from_indices = nn.cross_entropy(nn.Tensor(logits), labels).item()
    from_one_hot = nn.cross_entropy(nn.Tensor(logits), np.eye(3)[labels]).item()
    assert from_one_hot == pytest.approx(from_indices, rel=1e-15)


def test_cross_entropy_soft_target_gradient():
    target = rng.dirichlet(np.ones(3), size=4)
    assert_gradients_match(lambda x: nn.cross_entropy(x, target), rng.normal(size=(4, 3)))


def test_cross_entropy_target_requiring_grad():
    # ∂/∂target of -Σ target·log_softmax(x) is -log_softmax(x); checked by differences.
    target = rng.dirichlet(np.ones(3), size=4)
    assert_gradients_match(lambda x, t: nn.cross_entropy(x, t, reduction="none"),
                           rng.normal(size=(4, 3)), target)


def test_cross_entropy_sum_and_none():
    logits = nn.Tensor(rng.normal(size=(4, 3)))
    labels = np.array([0, 2, 1, 2])
    per_sample = nn.cross_entropy(logits, labels, reduction="none").data
    assert per_sample.shape == (4,)
    assert nn.cross_entropy(logits, labels, reduction="sum").item() == pytest.approx(
        per_sample.sum(), rel=1e-15)


def test_cross_entropy_label_out_of_range():
    with pytest.raises(DataError, match="class index 3"):
        nn.cross_entropy(nn.Tensor(np.zeros((2, 3))), np.array([0, 3]))


def test_cross_entropy_target_shape():
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        nn.cross_entropy(nn.Tensor(np.zeros((2, 3))), np.array([[0], [1]]))


def test_cross_entropy_logits_shape():
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        nn.cross_entropy(nn.Tensor(np.zeros(3)), np.array([0]))


def test_cross_entropy_module():
    logits = nn.Tensor(rng.normal(size=(2, 3)))
    labels = np.array([1, 0])
    assert nn.CrossEntropyLoss()(logits, labels).item() == nn.cross_entropy(logits, labels).item()
