"""Modules: Linear, Sequential, Dropout, BatchNorm1d, LayerNorm, Residual, RNN, state_dict."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from numeric_gradient import assert_gradients_match, numeric_gradient

from propagate import nn
from propagate.errors import DataError, ShapeError

rng = np.random.default_rng(7)


def mlp(seed=0, dtype=np.float64):
    g = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(3, 8, rng=g, dtype=dtype), nn.ReLU(), nn.Linear(8, 2, rng=g, dtype=dtype)
    )


def module_gradients_match(module, x, rtol=1e-6, atol=1e-8):
    """Check ∂(sum w⊙module(x))/∂θ and ∂/∂x against finite differences."""
    params = list(module.parameters())
    weights = np.random.default_rng(1).normal(size=module(nn.Tensor(x)).shape)

    def loss_value(x_values, *param_values):
        saved = [p.data for p in params]
        for p, value in zip(params, param_values, strict=True):
            p.data = value
        with nn.no_grad():
            out = float(np.sum(module(nn.Tensor(x_values)).data * weights))
        for p, value in zip(params, saved, strict=True):
            p.data = value
        return out

    module.zero_grad()
    xt = nn.Tensor(x.copy(), requires_grad=True)
    (module(xt) * weights).sum().backward()
    numeric = numeric_gradient(loss_value, [x] + [p.data for p in params])
    np.testing.assert_allclose(xt.grad, numeric[0], rtol=rtol, atol=atol, err_msg="input")
    for (name, p), expected in zip(module.named_parameters(), numeric[1:], strict=True):
        np.testing.assert_allclose(p.grad, expected, rtol=rtol, atol=atol, err_msg=name)


# ---------------------------------------------------------------- Linear and Sequential


def test_linear_shapes():
    layer = nn.Linear(3, 5, rng=0)
    assert layer.weight.shape == (5, 3)
    assert layer.bias.shape == (5,)


def test_linear_computes_affine_map():
    layer = nn.Linear(3, 2, rng=0)
    x = rng.normal(size=(4, 3))
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-15)


def test_linear_init_bounds():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / math.sqrt(400)  # PyTorch default: Kaiming uniform a=√5 → U(-1/√in, 1/√in)
    assert np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.99 * bound
    assert np.abs(layer.bias.data).max() <= bound


def test_linear_gradients():
    module_gradients_match(nn.Linear(3, 4, rng=0), rng.normal(size=(5, 3)))


def test_linear_batched_input():
    module_gradients_match(nn.Linear(3, 2, rng=0), rng.normal(size=(2, 4, 3)))


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False, rng=0)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_linear_wrong_features():
    with pytest.raises(ShapeError, match=r"3 features.*\(4, 5\)"):
        nn.Linear(3, 2, rng=0)(np.ones((4, 5)))


def test_sequential_parameter_names():
    names = [name for name, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_rejects_non_module():
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_named_modules():
    names = [name for name, _ in mlp().named_modules()]
    assert names == ["", "0", "1", "2"]


def test_nested_parameter_names():
    model = nn.Sequential(nn.Residual(nn.Linear(2, 2, rng=0)), nn.Linear(2, 1, rng=1))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.module.weight", "0.module.bias", "1.weight", "1.bias"]


def test_shared_parameter_listed_once():
    layer = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    assert len(list(model.parameters())) == 2


def test_zero_grad_clears():
    model = mlp()
    model(np.ones((2, 3))).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_mlp_gradients():
    model = nn.Sequential(nn.Linear(3, 6, rng=0), nn.Tanh(), nn.Linear(6, 2, rng=1), nn.GELU())
    module_gradients_match(model, rng.normal(size=(4, 3)))


@pytest.mark.parametrize(
    "layer", [nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.1), nn.Softplus(), nn.GELU()],
    ids=lambda m: type(m).__name__,
)
def test_activation_module_gradient(layer):
    x = rng.uniform(0.2, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
    assert_gradients_match(layer, x)


# ---------------------------------------------------------------- train/eval and hooks


def test_train_eval_flags():
    model = mlp()
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_forward_hook_called():
    model = mlp()
    seen = []
    model[1].register_forward_hook(lambda m, inputs, output: seen.append(output.shape))
    model(np.ones((4, 3)))
    assert seen == [(4, 8)]


def test_forward_hook_replaces_output():
    layer = nn.ReLU()
    layer.register_forward_hook(lambda m, inputs, output: output * 0.0)
    assert np.all(layer(np.ones(3)).data == 0.0)


def test_forward_hook_remove():
    layer = nn.ReLU()
    handle = layer.register_forward_hook(lambda m, inputs, output: output * 0.0)
    handle.remove()
    assert np.all(layer(np.ones(3)).data == 1.0)


def test_forward_hook_delta_capture():
    # Per-layer δ = ∂L/∂z: a forward hook registers a tensor hook on the layer output.
    model = mlp()
    deltas = {}

    def capture(module, inputs, output):
        output.register_hook(lambda g: deltas.__setitem__("z1", g.copy()))

    model[0].register_forward_hook(capture)
    x = rng.normal(size=(4, 3))
    z1 = model[0](x)
    z1.retain_grad()
    model[2](model[1](z1)).sum().backward()
    model.zero_grad()
    model(x).sum().backward()
    np.testing.assert_allclose(deltas["z1"], z1.grad)


# ---------------------------------------------------------------- state_dict


def test_state_dict_round_trip():
    source, target = mlp(seed=0), mlp(seed=1)
    target.load_state_dict(source.state_dict())
    x = rng.normal(size=(3, 3))
    np.testing.assert_array_equal(target(x).data, source(x).data)


def test_state_dict_is_a_copy():
    model = mlp()
    state = model.state_dict()
    state["0.weight"][...] = 0.0
    assert np.any(model[0].weight.data != 0.0)


def test_load_state_dict_missing_key():
    state = mlp().state_dict()
    del state["2.bias"]
    with pytest.raises(DataError, match="2.bias"):
        mlp().load_state_dict(state)


def test_load_state_dict_unexpected_key():
    state = mlp().state_dict()
    state["3.weight"] = np.ones(2)
    with pytest.raises(DataError, match="3.weight"):
        mlp().load_state_dict(state)


def test_load_state_dict_shape_mismatch():
    state = mlp().state_dict()
    state["0.bias"] = np.ones(7)
    with pytest.raises(ShapeError, match=r"0.bias.*\(7,\).*\(8,\)"):
        mlp().load_state_dict(state)


def test_load_state_dict_non_strict():
    model = mlp(seed=0)
    state = {"0.bias": np.zeros(8), "extra": np.ones(1)}
    model.load_state_dict(state, strict=False)
    assert np.all(model[0].bias.data == 0.0)


def test_load_state_dict_keeps_dtype():
    model = mlp(dtype=np.float32)
    model.load_state_dict(mlp(dtype=np.float64).state_dict())
    assert model[0].weight.dtype == np.float32


def test_tied_weight_state_round_trip():
    model = nn.Sequential(nn.Linear(3, 3, rng=0), nn.Tanh(), nn.Linear(3, 3, rng=1))
    model[2].weight = model[0].weight
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model.load_state_dict(state)


def test_reassigned_parameter_keeps_order():
    layer = nn.Linear(2, 3, rng=0)
    layer.weight = nn.Parameter(np.zeros((3, 2)))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_parameter_replaces_plain_attribute():
    layer = nn.Linear(2, 3, bias=False, rng=0)
    bias = nn.Parameter(np.zeros(3))
    layer.bias = bias
    assert layer.bias is bias
    x = np.ones((1, 2))
    np.testing.assert_array_equal(layer(x).data, x @ layer.weight.data.T)


def test_load_state_dict_updates_views():
    # PyTorch copies into the parameter, so a detached view sees the loaded values.
    model = mlp(seed=0)
    view = model[0].weight.detach()
    state = mlp(seed=1).state_dict()
    model.load_state_dict(state)
    np.testing.assert_array_equal(view.data, state["0.weight"])


def test_batchnorm_state_includes_buffers():
    keys = set(nn.BatchNorm1d(3).state_dict())
    assert keys == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}


# ---------------------------------------------------------------- reproducibility


def test_seeded_models_identical():
    x = rng.normal(size=(5, 3))
    a = mlp(seed=3)(x).data
    b = mlp(seed=3)(x).data
    assert a.tobytes() == b.tobytes()


def test_seeded_training_bit_for_bit():
    def run():
        g = np.random.default_rng(11)
        model = nn.Sequential(nn.Linear(3, 8, rng=g), nn.Tanh(), nn.Dropout(0.3, rng=g),
                              nn.Linear(8, 3, rng=g))
        opt = nn.optim.Adam(model.parameters(), lr=0.01)
        x = g.normal(size=(16, 3))
        y = g.integers(0, 3, size=16)
        for _ in range(5):
            opt.zero_grad()
            nn.cross_entropy(model(x), y).backward()
            opt.step()
        return b"".join(p.data.tobytes() for p in model.parameters())

    assert run() == run()


def test_different_seeds_differ():
    assert not np.array_equal(mlp(seed=1)[0].weight.data, mlp(seed=2)[0].weight.data)


# ---------------------------------------------------------------- Dropout


def test_dropout_eval_identity():
    layer = nn.Dropout(0.5, rng=0).eval()
    x = rng.normal(size=(4, 5))
    np.testing.assert_array_equal(layer(x).data, x)


def test_dropout_inverted_scaling():
    layer = nn.Dropout(0.25, rng=0)
    out = layer(np.ones((200, 200))).data
    assert set(np.unique(out)) <= {0.0, 1 / 0.75}


def test_dropout_keep_fraction():
    out = nn.Dropout(0.25, rng=0)(np.ones((200, 200))).data
    # 40000 Bernoulli(0.75) draws: standard deviation of the fraction is about 0.002.
    assert abs(np.mean(out != 0) - 0.75) < 0.01


def test_dropout_gradient_uses_mask():
    layer = nn.Dropout(0.5, rng=0)
    x = nn.Tensor(np.ones((3, 4)), requires_grad=True)
    out = layer(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)


def test_dropout_seeded_masks_repeat():
    a = nn.Dropout(0.5, rng=5)(np.ones(50)).data
    b = nn.Dropout(0.5, rng=5)(np.ones(50)).data
    np.testing.assert_array_equal(a, b)


def test_dropout_invalid_probability():
    with pytest.raises(ValueError, match="1.5"):
        nn.Dropout(1.5)


# ---------------------------------------------------------------- BatchNorm1d


def batchnorm_with_affine(features=3):
    layer = nn.BatchNorm1d(features)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, size=features)
    layer.bias.data[...] = rng.normal(size=features)
    return layer


def test_batchnorm_training_gradients():
    module_gradients_match(batchnorm_with_affine(), rng.normal(size=(6, 3)), rtol=1e-5)


def test_batchnorm_3d_training_gradients():
    module_gradients_match(batchnorm_with_affine(), rng.normal(size=(4, 3, 5)), rtol=1e-5)


def test_batchnorm_normalises_batch():
    out = nn.BatchNorm1d(3)(rng.normal(2.0, 3.0, size=(50, 3))).data
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1.0, rtol=1e-5)  # biased var, eps = 1e-5


def test_batchnorm_running_stats():
    layer = nn.BatchNorm1d(2)
    x = rng.normal(size=(5, 2))
    layer(x)
    # momentum 0.1: running = 0.9·initial + 0.1·batch, with the unbiased variance.
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0, ddof=1),
                               rtol=1e-14)


def test_batchnorm_eval_uses_running_stats():
    layer = nn.BatchNorm1d(2)
    layer.running_mean = np.array([1.0, -1.0])
    layer.running_var = np.array([4.0, 0.25])
    layer.eval()
    out = layer(np.array([[3.0, 0.0]])).data
    expected = (np.array([3.0, 0.0]) - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(out[0], expected, rtol=1e-14)


def test_batchnorm_single_sample_training():
    with pytest.raises(ShapeError, match="more than one value"):
        nn.BatchNorm1d(3)(np.ones((1, 3)))


def test_batchnorm_wrong_features():
    with pytest.raises(ShapeError, match=r"\(4, 5\)"):
        nn.BatchNorm1d(3)(np.ones((4, 5)))


# ---------------------------------------------------------------- LayerNorm


def test_layernorm_gradients():
    layer = nn.LayerNorm(4)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, size=4)
    layer.bias.data[...] = rng.normal(size=4)
    module_gradients_match(layer, rng.normal(size=(3, 4)), rtol=1e-5)


def test_layernorm_two_axes_gradients():
    module_gradients_match(nn.LayerNorm((2, 3)), rng.normal(size=(2, 2, 3)), rtol=1e-5)


def test_layernorm_normalises_rows():
    out = nn.LayerNorm(6)(rng.normal(5.0, 2.0, size=(4, 6))).data
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-12)


def test_layernorm_wrong_shape():
    with pytest.raises(ShapeError, match=r"\(4,\).*\(3, 5\)"):
        nn.LayerNorm(4)(np.ones((3, 5)))


# ---------------------------------------------------------------- Residual


def test_residual_adds_input():
    inner = nn.Linear(3, 3, rng=0)
    x = rng.normal(size=(2, 3))
    np.testing.assert_allclose(nn.Residual(inner)(x).data, x + inner(x).data, rtol=1e-15)


def test_residual_gradients():
    module_gradients_match(nn.Residual(nn.Sequential(nn.Linear(3, 3, rng=0), nn.Tanh())),
                           rng.normal(size=(4, 3)))


def test_residual_shape_checked():
    with pytest.raises(ShapeError, match=r"\(2, 3\) to \(2, 4\)"):
        nn.Residual(nn.Linear(3, 4, rng=0))(np.ones((2, 3)))


# ---------------------------------------------------------------- RNN


def test_rnn_output_shapes():
    output, h_n = nn.RNN(3, 5, rng=0)(np.ones((7, 2, 3)))
    assert output.shape == (7, 2, 5)
    assert h_n.shape == (1, 2, 5)


def test_rnn_last_state_matches_output():
    output, h_n = nn.RNN(3, 5, rng=0)(rng.normal(size=(4, 2, 3)))
    np.testing.assert_array_equal(h_n.data[0], output.data[-1])


def test_rnn_recurrence_by_hand():
    layer = nn.RNN(2, 3, rng=0)
    x = rng.normal(size=(3, 1, 2))
    h = np.zeros((1, 3))
    for t in range(3):
        h = np.tanh(x[t] @ layer.weight_ih_l0.data.T + layer.bias_ih_l0.data
                    + h @ layer.weight_hh_l0.data.T + layer.bias_hh_l0.data)
    np.testing.assert_allclose(layer(x)[1].data[0], h, rtol=1e-14)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_bptt_gradients(nonlinearity):
    layer = nn.RNN(2, 3, nonlinearity=nonlinearity, rng=0)

    class Output(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = layer

        def forward(self, x):
            return self.rnn(x)[0]

    module_gradients_match(Output(), rng.normal(size=(5, 2, 2)), rtol=1e-5)


def test_rnn_with_initial_state_gradient():
    layer = nn.RNN(2, 3, rng=0)
    x = rng.normal(size=(4, 2, 2))
    h0 = rng.normal(size=(1, 2, 3))
    assert_gradients_match(lambda h: layer(x, h)[1], h0)


def test_rnn_long_unroll():
    layer = nn.RNN(1, 4, rng=0)
    output, _ = layer(np.full((2000, 1, 1), 0.1))
    output.sum().backward()
    assert np.all(np.isfinite(layer.weight_hh_l0.grad))


def test_rnn_initial_state_keyword():
    layer = nn.RNN(2, 3, rng=0)
    x = rng.normal(size=(4, 1, 2))
    h0 = rng.normal(size=(1, 1, 3))
    np.testing.assert_array_equal(layer(x, h0=h0)[0].data, layer(x, h0)[0].data)


def test_rnn_wrong_input_shape():
    with pytest.raises(ShapeError, match=r"\(seq_len, batch, 3\).*\(4, 3\)"):
        nn.RNN(3, 5, rng=0)(np.ones((4, 3)))


def test_rnn_empty_sequence():
    with pytest.raises(ShapeError, match=r"empty sequence.*\(0, 1, 2\)"):
        nn.RNN(2, 3, rng=0)(np.ones((0, 1, 2)))


def test_rnn_unknown_nonlinearity():
    with pytest.raises(ValueError, match="sigmoid"):
        nn.RNN(3, 5, nonlinearity="sigmoid")


# ---------------------------------------------------------------- copying and dtype


def test_deepcopy_independent():
    model = mlp()
    clone = copy.deepcopy(model)
    clone[0].weight.data[...] = 0.0
    assert np.any(model[0].weight.data != 0.0)


def test_pickle_round_trip():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4)).eval()
    restored = pickle.loads(pickle.dumps(model))
    x = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(restored(x).data, model(x).data)


def test_module_to_float32():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4)).to(np.float32)
    assert model[0].weight.dtype == np.float32
    assert model[1].running_var.dtype == np.float32


def test_sequential_slice():
    model = mlp()
    head = model[:2]
    assert isinstance(head, nn.Sequential)
    assert head(np.ones((1, 3))).shape == (1, 8)


# ---------------------------------------------------------------- end-to-end training


def test_mlp_learns_xor():
    g = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(2, 8, rng=g), nn.Tanh(), nn.Linear(8, 2, rng=g))
    opt = nn.optim.Adam(model.parameters(), lr=0.05)
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    for _ in range(300):
        opt.zero_grad()
        nn.cross_entropy(model(x), y).backward()
        opt.step()
    np.testing.assert_array_equal(model(x).data.argmax(axis=1), y)


def test_rnn_learns_running_mean():
    # Target at each step: the mean of the inputs so far, which needs the recurrence.
    g = np.random.default_rng(0)
    rnn, head = nn.RNN(1, 8, rng=g), nn.Linear(8, 1, rng=g)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = nn.optim.Adam(params, lr=0.02)
    x = g.uniform(-1, 1, size=(6, 32, 1))
    y = np.cumsum(x, axis=0) / np.arange(1, 7).reshape(6, 1, 1)

    def loss():
        return nn.mse_loss(head(rnn(x)[0]), y)

    initial = loss().item()
    for _ in range(150):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.1 * initial
