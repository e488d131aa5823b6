"""float32 stays float32 through forward, backward and every optimizer step."""

from __future__ import annotations

import numpy as np
import pytest

from propagate import nn

F32 = np.float32


def float32_model():
    g = np.random.default_rng(0)
    return nn.Sequential(
        nn.Linear(4, 8, rng=g, dtype=F32), nn.GELU(), nn.BatchNorm1d(8, dtype=F32),
        nn.Dropout(0.1, rng=g), nn.LayerNorm(8, dtype=F32), nn.Softplus(),
        nn.Residual(nn.Sequential(nn.Linear(8, 8, rng=g, dtype=F32), nn.Tanh())),
        nn.LeakyReLU(), nn.Linear(8, 3, rng=g, dtype=F32), nn.Sigmoid(),
    )


def data32():
    g = np.random.default_rng(1)
    return g.normal(size=(6, 4)).astype(F32), g.integers(0, 3, size=6)


def test_tensor_keeps_float32():
    assert nn.Tensor(np.ones(3, dtype=F32)).dtype == F32


def test_scalar_operand_keeps_float32():
    x = nn.Tensor(np.ones(3, dtype=F32))
    results = [x * 2.0, 2.0 * x, x / 3.0, 1.0 - x, x**2, 2.0**x, x + 1]
    assert all(r.dtype == F32 for r in results)


def test_numpy_scalar_operand_keeps_float32():
    # PyTorch 2.x: float32 tensor * np.float64(2.0) is float32.
    x = nn.Tensor(np.ones(3, dtype=F32))
    results = [x * np.float64(2.0), np.float64(2.0) + x, x ** np.int64(2)]
    assert [r.dtype for r in results] == [np.dtype(F32)] * 3


def test_integer_array_operand_keeps_float32():
    # PyTorch 2.x: float32 tensor * int64 tensor is float32 (NumPy would give float64).
    x = nn.Tensor(np.ones(3, dtype=F32))
    counts = np.array([1, 2, 3])
    results = [x * counts, counts / x, x - nn.Tensor(counts), x + np.array([True, False, True])]
    assert [r.dtype for r in results] == [np.dtype(F32)] * 4


def test_integer_matrix_matmul_keeps_float32():
    weight = nn.Tensor(np.ones((3, 2), dtype=F32), requires_grad=True)
    out = np.eye(3, dtype=np.int64) @ weight
    out.sum().backward()
    assert out.dtype == F32
    assert weight.grad.dtype == F32


def test_integer_array_joined_keeps_float32():
    # PyTorch 2.x: torch.cat and torch.stack of float32 with int64 give float32.
    x = nn.Tensor(np.ones(3, dtype=F32), requires_grad=True)
    counts = np.array([1, 2, 3])
    joined = [nn.concatenate([x, counts]), nn.stack([counts, x])]
    assert [r.dtype for r in joined] == [np.dtype(F32)] * 2


@pytest.mark.parametrize(
    "layer",
    [lambda: nn.BatchNorm1d(4, dtype=F32), lambda: nn.BatchNorm1d(4, dtype=F32).eval(),
     lambda: nn.LayerNorm(4, dtype=F32)],
    ids=["batchnorm", "batchnorm_eval", "layernorm"],
)
def test_integer_input_normalisation_float32(layer):
    out = layer()(np.arange(12).reshape(3, 4))
    assert out.dtype == F32


def test_integer_operand_float32_gradient_values():
    x = nn.Tensor(np.array([1.0, 2.0], dtype=F32), requires_grad=True)
    (x * np.array([3, 4])).sum().backward()
    np.testing.assert_array_equal(x.grad, np.array([3.0, 4.0], dtype=F32))


def test_forward_every_layer_float32():
    model = float32_model()
    dtypes = []
    for _, module in model.named_modules():
        module.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    x, _ = data32()
    model(x)
    assert set(dtypes) == {np.dtype(F32)}


def test_losses_float32():
    x, y = data32()
    logits = float32_model()(x)
    assert nn.cross_entropy(logits, y).dtype == F32
    assert nn.mse_loss(logits, np.zeros((6, 3), dtype=F32)).dtype == F32
    assert nn.bce_with_logits(logits, np.ones((6, 3), dtype=F32)).dtype == F32


def test_backward_grads_float32():
    model = float32_model()
    x, y = data32()
    nn.cross_entropy(model(x), y).backward()
    assert {p.grad.dtype for p in model.parameters()} == {np.dtype(F32)}


def test_float64_input_float32_grads():
    # NumPy promotes the forward to float64, but each gradient keeps its tensor's dtype.
    layer = nn.Linear(4, 2, rng=0, dtype=F32)
    out = layer(np.ones((3, 4), dtype=np.float64))
    out.sum().backward()
    assert out.dtype == np.float64
    assert layer.weight.grad.dtype == F32


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: nn.optim.Adam(ps, lr=0.01, weight_decay=0.01),
        lambda ps: nn.optim.AdamW(ps, lr=0.01),
        lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    ],
    ids=["SGD", "Adam", "AdamW", "RMSprop"],
)
def test_optimizer_step_float32(make):
    model = float32_model()
    opt = make(list(model.parameters()))
    x, y = data32()
    for _ in range(2):
        opt.zero_grad()
        nn.cross_entropy(model(x), y).backward()
        nn.clip_grad_norm_(model.parameters(), max_norm=0.5)
        opt.step()
    assert {p.dtype for p in model.parameters()} == {np.dtype(F32)}
    states = [v for s in opt.state for v in s.values() if isinstance(v, np.ndarray)]
    assert {v.dtype for v in states} == {np.dtype(F32)}


def test_batchnorm_running_stats_float32():
    layer = nn.BatchNorm1d(3, dtype=F32)
    layer(np.random.default_rng(0).normal(size=(5, 3)).astype(F32))
    assert layer.running_var.dtype == F32


def test_rnn_float32():
    layer = nn.RNN(2, 3, rng=0, dtype=F32)
    output, h_n = layer(np.ones((4, 2, 2), dtype=F32))
    output.sum().backward()
    assert output.dtype == F32
    assert layer.weight_hh_l0.grad.dtype == F32


def test_float64_target_float32_loss():
    prediction = nn.Tensor(np.ones((3, 2), dtype=F32), requires_grad=True)
    target = np.zeros((3, 2), dtype=np.float64)
    assert nn.mse_loss(prediction, target).dtype == F32
    assert nn.bce_with_logits(prediction, target).dtype == F32
