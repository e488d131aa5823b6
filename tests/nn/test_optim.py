"""Optimizers, schedules and clipping against values computed by hand from their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from propagate import nn
from propagate.errors import DataError, NonFiniteError


def param(values, grad=None):
    p = nn.Parameter(np.array(values, dtype=np.float64))
    if grad is not None:
        p.grad = np.array(grad, dtype=np.float64)
    return p


def run_steps(optimizer_type, grads, start=1.0, **options):
    p = param([start])
    opt = optimizer_type([p], **options)
    values = []
    for g in grads:
        p.grad = np.array([g])
        opt.step()
        values.append(p.data[0])
    return values


def test_sgd_plain():
    assert run_steps(nn.optim.SGD, [2.0], lr=0.1) == [pytest.approx(0.8, rel=1e-15)]


def test_sgd_momentum_by_hand():
    # buffer: 1.0, then 0.9·1.0 + 0.5 = 1.4; p: 1 - 0.1 = 0.9, then 0.9 - 0.14 = 0.76.
    values = run_steps(nn.optim.SGD, [1.0, 0.5], lr=0.1, momentum=0.9)
    np.testing.assert_allclose(values, [0.9, 0.76], rtol=1e-15)


def test_sgd_nesterov_by_hand():
    # step = g + 0.9·buffer: 1 + 0.9 = 1.9, then 0.5 + 0.9·1.4 = 1.76.
    values = run_steps(nn.optim.SGD, [1.0, 0.5], lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(values, [1 - 0.19, 1 - 0.19 - 0.176], rtol=1e-15)


def test_sgd_weight_decay_by_hand():
    # g + 0.1·p = 1 + 0.1 = 1.1, p = 1 - 0.5·1.1 = 0.45.
    values = run_steps(nn.optim.SGD, [1.0], lr=0.5, weight_decay=0.1)
    assert values[0] == pytest.approx(0.45, rel=1e-15)


def test_sgd_dampening_by_hand():
    # buffer: 1.0 (no dampening on the first step), then 0.9 + (1 - 0.5)·1.0 = 1.4.
    values = run_steps(nn.optim.SGD, [1.0, 1.0], lr=1.0, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(values, [0.0, -1.4], rtol=1e-15)


def test_sgd_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="momentum"):
        nn.optim.SGD([param([1.0])], lr=0.1, nesterov=True)


def adam_by_hand(grads, lr, beta1=0.9, beta2=0.999, eps=1e-8, start=1.0, decoupled=0.0):
    """Kingma and Ba, Algorithm 1, with bias-corrected moments m̂ and v̂."""
    p, m, v = start, 0.0, 0.0
    values = []
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
        values.append(p)
    return values


def test_adam_first_two_steps():
    values = run_steps(nn.optim.Adam, [0.5, -0.2], lr=0.1)
    np.testing.assert_allclose(values, adam_by_hand([0.5, -0.2], lr=0.1), rtol=1e-13)


def test_adam_first_step_is_lr():
    # With m̂ = g and v̂ = g², the first step is lr·g/(|g| + eps) ≈ lr·sign(g).
    assert run_steps(nn.optim.Adam, [3.0], lr=0.01)[0] == pytest.approx(0.99, rel=1e-9)


def test_adam_l2_weight_decay():
    values = run_steps(nn.optim.Adam, [0.5, -0.2], lr=0.1, weight_decay=0.1)
    # L2: the gradient becomes g + 0.1·p at the current p.
    p, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate([0.5, -0.2], start=1):
        g = g + 0.1 * p
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p -= 0.1 * (m / (1 - 0.9**t)) / (math.sqrt(v / (1 - 0.999**t)) + 1e-8)
    assert values[1] == pytest.approx(p, rel=1e-13)


def test_adamw_decoupled_decay():
    values = run_steps(nn.optim.AdamW, [0.5, -0.2], lr=0.1, weight_decay=0.1)
    expected = adam_by_hand([0.5, -0.2], lr=0.1, decoupled=0.1)
    np.testing.assert_allclose(values, expected, rtol=1e-13)


def test_rmsprop_by_hand():
    values = run_steps(nn.optim.RMSprop, [0.5, -0.2], lr=0.01, alpha=0.9)
    s1 = 0.1 * 0.25
    p1 = 1 - 0.01 * 0.5 / (math.sqrt(s1) + 1e-8)
    s2 = 0.9 * s1 + 0.1 * 0.04
    p2 = p1 + 0.01 * 0.2 / (math.sqrt(s2) + 1e-8)
    np.testing.assert_allclose(values, [p1, p2], rtol=1e-13)


def test_rmsprop_centered_momentum_by_hand():
    values = run_steps(nn.optim.RMSprop, [0.5, -0.2], lr=0.01, alpha=0.9, momentum=0.5,
                       centered=True)
    s, a, b, p = 0.0, 0.0, 0.0, 1.0
    for g in [0.5, -0.2]:
        s = 0.9 * s + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        b = 0.5 * b + g / (math.sqrt(s - a * a) + 1e-8)
        p -= 0.01 * b
    assert values[1] == pytest.approx(p, rel=1e-12)


def test_step_skips_missing_grad():
    p = param([1.0])
    nn.optim.Adam([p], lr=0.1).step()
    assert p.data[0] == 1.0


def test_optimizer_zero_grad():
    p = param([1.0], grad=[2.0])
    nn.optim.SGD([p], lr=0.1).zero_grad()
    assert p.grad is None


def test_optimizer_empty_params():
    with pytest.raises(ValueError, match="empty"):
        nn.optim.SGD([], lr=0.1)


def test_optimizer_negative_lr():
    with pytest.raises(ValueError, match="-0.1"):
        nn.optim.SGD([param([1.0])], lr=-0.1)


def test_optimizer_resume_bit_for_bit():
    grads = [np.array([0.3, -0.1]), np.array([0.2, 0.4]), np.array([-0.5, 0.1])]

    p = param([1.0, 2.0])
    opt = nn.optim.Adam([p], lr=0.1)
    for g in grads:
        p.grad = g
        opt.step()

    q = param([1.0, 2.0])
    first = nn.optim.Adam([q], lr=0.1)
    for g in grads[:2]:
        q.grad = g
        first.step()
    saved_state, saved_values = first.state_dict(), q.data.copy()
    r = param(saved_values)
    resumed = nn.optim.Adam([r], lr=0.5)
    resumed.load_state_dict(saved_state)
    r.grad = grads[2]
    resumed.step()
    assert r.data.tobytes() == p.data.tobytes()


def test_optimizer_state_wrong_type():
    state = nn.optim.SGD([param([1.0])], lr=0.1).state_dict()
    with pytest.raises(DataError, match="'SGD'"):
        nn.optim.Adam([param([1.0])]).load_state_dict(state)


def test_step_lr_schedule():
    opt = nn.optim.SGD([param([1.0])], lr=1.0)
    sched = nn.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(4):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_cosine_schedule():
    opt = nn.optim.SGD([param([1.0])], lr=1.0)
    sched = nn.optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = [opt.lr]
    for _ in range(4):
        sched.step()
        lrs.append(opt.lr)
    half = 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2
    np.testing.assert_allclose(lrs, [1.0, half, 0.55, 1.1 - half, 0.1], rtol=1e-14)


def test_schedule_state_round_trip():
    opt = nn.optim.SGD([param([1.0])], lr=1.0)
    sched = nn.optim.StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    sched.step()
    other_opt = nn.optim.SGD([param([1.0])], lr=1.0)
    other = nn.optim.StepLR(other_opt, step_size=1, gamma=0.5)
    other.load_state_dict(sched.state_dict())
    assert other_opt.lr == 0.25


def test_clip_norm_three_four_five():
    a, b = param([1.0], grad=[3.0]), param([1.0], grad=[4.0])
    total = nn.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == 5.0
    assert a.grad[0] == pytest.approx(0.6, rel=1e-6)
    assert b.grad[0] == pytest.approx(0.8, rel=1e-6)


def test_clip_norm_below_max_untouched():
    a = param([1.0], grad=[3.0])
    nn.clip_grad_norm_([a], max_norm=10.0)
    assert a.grad[0] == 3.0


def test_clip_norm_infinity_norm():
    a, b = param([1.0], grad=[3.0]), param([1.0], grad=[-4.0])
    assert nn.clip_grad_norm_([a, b], max_norm=100.0, norm_type=math.inf) == 4.0


def test_clip_norm_nonfinite_raises():
    a = param([1.0], grad=[np.nan])
    with pytest.raises(NonFiniteError, match="nan"):
        nn.clip_grad_norm_([a], max_norm=1.0, error_if_nonfinite=True)


def test_clip_norm_nonfinite_returned():
    a = param([1.0], grad=[np.inf])
    with np.errstate(invalid="ignore"):
        assert math.isinf(nn.clip_grad_norm_([a], max_norm=1.0))


@pytest.mark.parametrize("norm_type", [0, -1.0, math.nan])
def test_clip_norm_type_not_positive(norm_type):
    a = param([1.0], grad=[3.0])
    with pytest.raises(ValueError, match="norm_type must be a positive number"):
        nn.clip_grad_norm_([a], max_norm=1.0, norm_type=norm_type)


def test_clip_value():
    a = param([1.0, 1.0, 1.0], grad=[-2.0, 0.1, 0.7])
    nn.clip_grad_value_([a], 0.5)
    np.testing.assert_array_equal(a.grad, [-0.5, 0.1, 0.5])
