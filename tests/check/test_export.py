"""Export of engine models to graphs: names, losses, unsupported modules, sweep vs graph."""

import numpy as np
import pytest
import sympy

from propagate import nn
from propagate.check import SweepPlan, export_model
from propagate.check.export import SUPPORTED
from propagate.check.names import EntryName, symbol_name
from propagate.check.networks import build_network, random_batch
from propagate.check.sweep import local_derivative
from propagate.symbolic import dense_network
from propagate.symbolic.parser import is_valid_name


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(), nn.Linear(4, 2, rng=rng))


def test_symbol_name_valid():
    name = symbol_name("p", "0.weight", (2, 1), {})
    assert name == "p_0_weight_2_1"
    assert is_valid_name(name)


def test_symbol_name_collision():
    first = symbol_name("p", "a.b_c", (0,), {})
    second = symbol_name("p", "a_b.c", (0,), {first: 1.0})
    assert second != first
    assert is_valid_name(second)


def test_entries_map_back():
    model = small_model()
    exported = export_model(model, np.ones((1, 3)))
    assert exported.entries["p_0_weight_2_1"] == EntryName("0.weight", (2, 1))
    assert str(exported.entries["p_2_bias_1"]) == "2.bias[1]"
    for name, entry in exported.entries.items():
        tensor = dict(model.named_parameters())[entry.tensor]
        assert exported.values[name] == tensor.data[entry.index]


def test_one_input_per_entry():
    model = small_model()
    exported = export_model(model, np.ones((2, 3)))
    count = sum(p.data.size for p in model.parameters())
    assert len(exported.graph.inputs) == count


def test_data_symbols():
    exported = export_model(small_model(), np.arange(6.0).reshape(2, 3), data="symbols")
    assert exported.data_symbols.shape == (2, 3)
    assert exported.values[exported.data_symbols[1, 2]] == 5.0


@pytest.mark.parametrize("loss", ["mse", "bce", "cross-entropy"])
def test_loss_value_matches_engine(loss):
    sizes = (3, 4, 2)
    model = build_network(sizes, "gelu", layernorm=True, residual=True, seed=3)
    x, y = random_batch(sizes, loss, 5, seed=3)
    exported = export_model(model, x, y, loss)
    exact = exported.graph.evaluate("L", exported.values)
    engine_loss = {"mse": nn.mse_loss, "bce": nn.bce_with_logits, "cross-entropy": nn.cross_entropy}
    expected = engine_loss[loss](model(nn.Tensor(x)), y).item()
    assert exact == pytest.approx(expected, rel=1e-13)


def test_probability_targets():
    sizes = (3, 4, 3)
    model = build_network(sizes, "tanh", seed=1)
    x, _ = random_batch(sizes, "cross-entropy", 4, seed=1)
    y = np.random.default_rng(2).dirichlet(np.ones(3), 4)
    exported = export_model(model, x, y, "cross-entropy")
    expected = nn.cross_entropy(model(nn.Tensor(x)), y).item()
    assert exported.graph.evaluate("L", exported.values) == pytest.approx(expected, rel=1e-13)


def test_output_values_match_engine():
    model = build_network((3, 5, 5, 2), "softplus", layernorm=True, residual=True, seed=4)
    x = np.random.default_rng(4).normal(size=(3, 3))
    exported = export_model(model, x)
    names = exported.output
    values = exported.graph.values(exported.values)
    graph_out = np.array([[float(values[name]) for name in row] for row in names])
    np.testing.assert_allclose(graph_out, model(nn.Tensor(x)).data, rtol=1e-13)


def test_unsupported_module_named():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    with pytest.raises(NotImplementedError, match="BatchNorm1d") as info:
        export_model(model, np.ones((2, 3)))
    assert "Linear" in str(info.value)
    assert "supported modules" in str(info.value)


def test_dropout_training_rejected():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with pytest.raises(NotImplementedError, match="model.eval"):
        export_model(model, np.ones((2, 3)))
    model.eval()
    assert export_model(model, np.ones((2, 3))).output.shape == (2, 3)


def test_supported_list_names_modules():
    for name in ("Linear", "LayerNorm", "Residual", "GELU", "LeakyReLU"):
        assert any(entry.startswith(name) for entry in SUPPORTED)


def test_input_shape_checked():
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        export_model(small_model(), np.ones(3))


def test_loss_needs_targets():
    with pytest.raises(ValueError, match="needs targets"):
        export_model(small_model(), np.ones((1, 3)), loss="mse")


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        export_model(small_model(), np.ones((1, 3)), np.ones((1, 2)), loss="hinge")


def test_class_index_range():
    with pytest.raises(ValueError, match="0..1"):
        export_model(small_model(), np.ones((2, 3)), np.array([0, 2]), loss="cross-entropy")


def test_local_derivative_matches_graph():
    model = build_network((3, 4, 2), "sigmoid", layernorm=True, seed=5)
    exported = export_model(model, np.ones((1, 3)), np.array([1]), "cross-entropy")
    graph = exported.graph
    for child in list(graph.nodes)[:40]:
        for parent in graph.parents(child):
            lean = local_derivative(graph, child, parent)
            full = graph.local_derivative(child, parent)
            assert sympy.simplify(lean - full) == 0, (child, parent)


def test_sweep_matches_graph_gradient():
    # Graph.gradient expands the adjoints symbolically; the lean sweep evaluates node by node.
    model = build_network((2, 3, 2), "tanh", layernorm=True, seed=6)
    x, y = random_batch((2, 3, 2), "cross-entropy", 2, seed=6)
    exported = export_model(model, x, y, "cross-entropy")
    names = list(exported.entries)
    symbolic = exported.graph.gradient("L", names)
    sweep = SweepPlan(exported.graph, "L").run(exported.values)
    for name in names:
        expected = exported.graph.evaluate(symbolic[name], exported.values)
        assert sweep.adjoints[name] == pytest.approx(expected, rel=1e-12, abs=1e-15), name


def test_sweep_matches_dense_network():
    # dense_network builds the same network independently, named W{l}_{i}_{j} and b{l}_{i}.
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Sigmoid(), nn.Linear(4, 3, rng=rng))
    x = rng.normal(size=(2, 3))
    y = np.array([2, 0])
    reference = dense_network([3, 4, 3], ["sigmoid", "identity"], "cross-entropy", x, y)
    at = {}
    for layer, index in ((1, 0), (2, 2)):
        weight = model[index].weight.data
        bias = model[index].bias.data
        for i, j in np.ndindex(weight.shape):
            at[f"W{layer}_{i}_{j}"] = weight[i, j]
        for i in range(len(bias)):
            at[f"b{layer}_{i}"] = bias[i]
    expected = reference.graph.compile(reference.graph.gradient("L", list(at)).values())(**at)

    exported = export_model(model, x, y, "cross-entropy")
    sweep = SweepPlan(exported.graph, "L").run(exported.values)
    ours = [sweep.adjoints[f"p_0_weight_{i}_{j}"] for i in range(4) for j in range(3)]
    ours += [sweep.adjoints[f"p_0_bias_{i}"] for i in range(4)]
    ours += [sweep.adjoints[f"p_2_weight_{i}_{j}"] for i in range(3) for j in range(4)]
    ours += [sweep.adjoints[f"p_2_bias_{i}"] for i in range(3)]
    np.testing.assert_allclose(ours, [float(v) for v in expected], rtol=1e-12, atol=1e-16)


def test_sweep_several_outputs():
    exported = export_model(small_model(), np.ones((2, 3)))
    outputs = list(exported.output.ravel())
    results = SweepPlan(exported.graph, outputs).run_all(exported.values)
    assert set(results) == set(outputs)
    # An output of sample 0 does not depend on the other sample's units.
    assert results[exported.output[0, 0]].adjoints.get(exported.output[1, 0], 0.0) == 0.0


def test_compare_magnitude_floor():
    from propagate.check import compare

    value, reference = np.array([1e-7 + 1e-15]), np.array([1e-7])
    assert not compare("w", "gradient", value, reference, 1e-10, 1e-6).passed
    row = compare("w", "gradient", value, reference, 1e-10, 1e-6, magnitude=np.array([10.0]))
    assert row.passed
    assert row.max_rel_error == pytest.approx(1e-15 / 1e-3)
