"""Gradients, losses and optimizer steps against PyTorch (skipped when torch is absent)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propagate import nn
from propagate.nn import functional as F

torch = pytest.importorskip("torch")

rng = np.random.default_rng(2024)


def torch_grads(build_torch, arrays, weights):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = build_torch(*tensors)
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


def engine_grads(build, arrays, weights):
    tensors = [nn.Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = build(*tensors)
    (out * weights).sum().backward()
    return out.data, [t.grad for t in tensors]


def assert_matches_torch(build, build_torch, *arrays, rtol=1e-12, atol=1e-14):
    with nn.no_grad():
        shape = build(*[nn.Tensor(a) for a in arrays]).shape
    weights = rng.normal(size=shape)
    ours, our_grads = engine_grads(build, arrays, weights)
    theirs, their_grads = torch_grads(build_torch, arrays, weights)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg="forward")
    for index, (a, b) in enumerate(zip(our_grads, their_grads, strict=True)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient {index}")


def kinked(shape):
    """Random values with exact zeros and ties mixed in, to compare kink conventions."""
    x = np.round(rng.normal(size=shape), 1)
    x.flat[::3] = 0.0
    return x


UNARY = {
    "exp": (lambda x: x.exp(), torch.exp),
    "tanh": (F.tanh, torch.tanh),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "relu": (F.relu, torch.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.05),
                   lambda x: torch.nn.functional.leaky_relu(x, 0.05)),
    "gelu": (F.gelu, torch.nn.functional.gelu),
    "softplus": (F.softplus, lambda x: torch.nn.functional.softplus(x, threshold=1000)),
    "abs": (abs, torch.abs),
    "softmax": (lambda x: F.softmax(x, axis=1), lambda x: torch.softmax(x, dim=1)),
    "log_softmax": (lambda x: F.log_softmax(x, axis=0), lambda x: torch.log_softmax(x, dim=0)),
    "max_all": (lambda x: x.max(), torch.amax),
    "max_axis": (lambda x: x.max(axis=1), lambda x: torch.amax(x, dim=1)),
    "mean_axis": (lambda x: x.mean(axis=0, keepdims=True),
                  lambda x: x.mean(dim=0, keepdim=True)),
    "square": (lambda x: x**2, lambda x: x**2),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_torch(name):
    ours, theirs = UNARY[name]
    assert_matches_torch(ours, theirs, kinked((4, 5)))


def test_positive_ops_match_torch():
    x = rng.uniform(0.5, 2.0, size=(3, 4))
    assert_matches_torch(lambda t: t.log() + t.sqrt() + 1.0 / t,
                         lambda t: t.log() + t.sqrt() + 1.0 / t, x)


def test_broadcast_ops_match_torch():
    a = rng.uniform(0.5, 2.0, size=(2, 3, 4))
    b = rng.uniform(0.5, 2.0, size=(3, 1))
    build = lambda x, y: x * y + x / y - y**x  # noqa: E731
    assert_matches_torch(build, build, a, b)


def test_pow_edge_points_match_torch():
    # Zero bases with zero, fractional and negative exponents, and a negative base.
    base = np.array([0.0, 0.0, 0.0, 0.0, 2.0, -2.0])
    exponent = np.array([0.0, 2.0, 0.5, -1.0, 0.0, 3.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_matches_torch(lambda a, b: a**b, torch.pow, base, exponent)


def test_max_with_nan_matches_torch():
    x = np.array([[1.0, np.nan, 2.0], [3.0, 1.0, 3.0]])
    assert_matches_torch(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), x)


@st.composite
def broadcast_case(draw):
    """Two broadcastable shapes whose axes may have length 0 or 1, an axis draw, keepdims."""
    ndim = draw(st.integers(1, 3))
    full = draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim))

    def operand():
        kept = full[draw(st.integers(0, ndim)):]
        return tuple(1 if draw(st.booleans()) else n for n in kept)

    return operand(), operand(), draw(st.integers(0, 2)), draw(st.booleans())


@settings(max_examples=30, deadline=None)
@given(case=broadcast_case(), op=st.sampled_from(["add", "sub", "mul", "div"]),
       reduction=st.sampled_from(["sum", "mean"]))
def test_broadcast_reduce_matches_torch(case, op, reduction):
    a_shape, b_shape, axis_draw, keepdims = case
    out_ndim = max(len(a_shape), len(b_shape))
    axis = None  # both operands 0-d: reduce everything
    if out_ndim:
        axis = axis_draw % out_ndim
        if axis_draw % 2:
            axis -= out_ndim  # odd draws use the negative spelling of the axis
    a = rng.uniform(0.5, 2.0, size=a_shape)
    b = rng.uniform(0.5, 2.0, size=b_shape)
    combine = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
               "mul": lambda x, y: x * y, "div": lambda x, y: x / y}[op]

    def ours(x, y):
        return getattr(combine(x, y), reduction)(axis=axis, keepdims=keepdims)

    def theirs(x, y):
        out = combine(x, y)
        if axis is None:
            return getattr(out, reduction)()
        return getattr(out, reduction)(dim=axis, keepdim=keepdims)

    # A mean over an axis of length 0 is NaN in both libraries.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_matches_torch(ours, theirs, a, b)


def test_matmul_matches_torch():
    assert_matches_torch(lambda a, b: a @ b, torch.matmul,
                         rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 5)))


def test_indexing_matches_torch():
    index = np.array([0, 2, 2, 1])
    assert_matches_torch(lambda t: t[index, 1:], lambda t: t[torch.tensor(index), 1:],
                         rng.normal(size=(3, 4)))


def test_concatenate_stack_match_torch():
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    assert_matches_torch(
        lambda x, y: nn.stack([nn.concatenate([x, y], axis=1), nn.concatenate([y, x], axis=1)]),
        lambda x, y: torch.stack([torch.cat([x, y], dim=1), torch.cat([y, x], dim=1)]),
        a, b,
    )


@pytest.mark.parametrize("loss", ["mse", "bce", "cross_entropy", "cross_entropy_probs"])
def test_loss_matches_torch(loss):
    logits = rng.normal(size=(5, 3)) * 3
    labels = rng.integers(0, 3, size=5)
    probs = rng.dirichlet(np.ones(3), size=5)
    targets = rng.uniform(size=(5, 3))
    tf = torch.nn.functional
    cases = {
        "mse": (lambda x: nn.mse_loss(x, targets),
                lambda x: tf.mse_loss(x, torch.tensor(targets))),
        "bce": (lambda x: nn.bce_with_logits(x, targets),
                lambda x: tf.binary_cross_entropy_with_logits(x, torch.tensor(targets))),
        "cross_entropy": (lambda x: nn.cross_entropy(x, labels),
                          lambda x: tf.cross_entropy(x, torch.tensor(labels))),
        "cross_entropy_probs": (lambda x: nn.cross_entropy(x, probs),
                                lambda x: tf.cross_entropy(x, torch.tensor(probs))),
    }
    ours, theirs = cases[loss]
    assert_matches_torch(ours, theirs, logits)


def copy_into_torch(model, torch_model):
    state = {k: torch.tensor(v) for k, v in model.state_dict().items()}
    torch_model.load_state_dict(state)


def test_mlp_gradients_match_torch():
    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 16, rng=g), nn.ReLU(), nn.Linear(16, 8, rng=g),
                          nn.Tanh(), nn.Linear(8, 3, rng=g))
    reference = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                    torch.nn.Linear(16, 8), torch.nn.Tanh(),
                                    torch.nn.Linear(8, 3)).double()
    copy_into_torch(model, reference)
    x, y = g.normal(size=(10, 4)), g.integers(0, 3, size=10)

    loss = nn.cross_entropy(model(x), y)
    loss.backward()
    torch_loss = torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y))
    torch_loss.backward()

    assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-13)
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters(),
                                 strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-11, atol=1e-14, err_msg=name)


def test_batchnorm_matches_torch():
    layer = nn.BatchNorm1d(3)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, size=3)
    reference = torch.nn.BatchNorm1d(3).double()
    copy_into_torch(layer, reference)
    x = rng.normal(size=(6, 3))
    assert_matches_torch(layer, reference, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
def test_batchnorm_running_stats_match_torch(momentum):
    layer = nn.BatchNorm1d(3, momentum=momentum)
    reference = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    for _ in range(3):
        x = rng.normal(1.0, 2.0, size=(5, 3))
        layer(x)
        reference(torch.tensor(x))
    np.testing.assert_allclose(layer.running_mean, reference.running_mean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, reference.running_var.numpy(), rtol=1e-13)
    layer.eval()
    reference.eval()
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(layer(x).data, reference(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


def test_layernorm_matches_torch():
    layer = nn.LayerNorm(5)
    layer.bias.data[...] = rng.normal(size=5)
    reference = torch.nn.LayerNorm(5).double()
    copy_into_torch(layer, reference)
    assert_matches_torch(layer, reference, rng.normal(size=(4, 5)), rtol=1e-10, atol=1e-12)


def test_rnn_matches_torch():
    layer = nn.RNN(3, 4, rng=0)
    reference = torch.nn.RNN(3, 4).double()
    copy_into_torch(layer, reference)
    x = rng.normal(size=(6, 2, 3))
    assert_matches_torch(lambda t: layer(t)[0], lambda t: reference(t)[0], x, rtol=1e-11)
    reference.zero_grad()
    layer.zero_grad()
    layer(x)[0].sum().backward()
    reference(torch.tensor(x))[0].sum().backward()
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(reference, name).grad.numpy(), rtol=1e-11,
                                   err_msg=name)


OPTIMIZERS = {
    "sgd_nesterov": (lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                             weight_decay=0.01),
                     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                weight_decay=0.01)),
    "sgd_dampening": (lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3),
                      lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3)),
    "adam": (lambda ps: nn.optim.Adam(ps, lr=0.05, weight_decay=0.1),
             lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1)),
    "adamw": (lambda ps: nn.optim.AdamW(ps, lr=0.05, betas=(0.8, 0.99)),
              lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.8, 0.99))),
    "rmsprop": (lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
                lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_matches_torch(name):
    make, make_torch = OPTIMIZERS[name]
    start = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(4)]
    p = nn.Parameter(start.copy())
    q = torch.tensor(start.copy(), requires_grad=True)
    opt, torch_opt = make([p]), make_torch([q])
    for g in grads:
        p.grad = g.copy()
        q.grad = torch.tensor(g)
        opt.step()
        torch_opt.step()
    np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["step", "cosine"])
def test_schedule_matches_torch(name):
    opt = nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.3)
    torch_opt = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.3)
    if name == "step":
        sched = nn.optim.StepLR(opt, step_size=3, gamma=0.5)
        torch_sched = torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3, gamma=0.5)
    else:
        sched = nn.optim.CosineAnnealingLR(opt, T_max=5, eta_min=0.01)
        torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=5,
                                                                 eta_min=0.01)
    for _ in range(12):
        torch_opt.step()
        sched.step()
        torch_sched.step()
        assert opt.lr == pytest.approx(torch_opt.param_groups[0]["lr"], rel=1e-12)


def test_clip_norm_matches_torch():
    grads = [rng.normal(size=(3, 2)) * 5, rng.normal(size=4) * 5]
    params = [nn.Parameter(np.zeros_like(g)) for g in grads]
    torch_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(params, torch_params, grads, strict=True):
        p.grad = g.copy()
        q.grad = torch.tensor(g)
    total = nn.clip_grad_norm_(params, max_norm=1.0)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, max_norm=1.0)
    assert total == pytest.approx(torch_total.item(), rel=1e-14)
    for p, q in zip(params, torch_params, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-14)


@pytest.mark.parametrize("norm_type", [1.0, 3.0, float("inf")])
@pytest.mark.parametrize("bad", [None, np.inf, np.nan], ids=["finite", "inf", "nan"])
def test_clip_norm_edge_cases_match_torch(norm_type, bad):
    grads = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    if bad is not None:
        grads[0][1, 1] = bad
    params = [nn.Parameter(np.zeros_like(g)) for g in grads]
    torch_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(params, torch_params, grads, strict=True):
        p.grad = g.copy()
        q.grad = torch.tensor(g)
    with np.errstate(invalid="ignore"):
        total = nn.clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, max_norm=0.5,
                                                 norm_type=norm_type)
    np.testing.assert_allclose(total, torch_total.item(), rtol=1e-13)
    for p, q in zip(params, torch_params, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-13)


def test_linear_init_distribution_matches_torch_bound():
    # Same formula as torch.nn.Linear's reset_parameters: bound 1/√in_features.
    torch.manual_seed(0)
    reference = torch.nn.Linear(50, 40)
    ours = nn.Linear(50, 40, rng=0)
    torch_bound = reference.weight.detach().abs().max().item()
    assert abs(ours.weight.data).max() == pytest.approx(torch_bound, rel=0.02)
