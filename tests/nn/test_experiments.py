"""Experiments: the model variants and the classic vanishing and exploding outcomes."""

import json
import math

import numpy as np
import pytest

from propagate import nn
from propagate.nn.diagnosis import EXPLODING, VANISHING
from propagate.nn.experiments import (
    VARIANTS,
    ExperimentConfig,
    SequenceClassifier,
    as_pixel_sequences,
    build_mlp,
    format_layer_table,
    format_summary_table,
    run_experiments,
)


def linear_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("variant", ["sigmoid", "relu", "residual"])
def test_mlp_has_depth_plus_one_linear_layers(variant):
    model = build_mlp(variant, 64, 10, depth=5, width=16, rng=np.random.default_rng(0))
    assert len(linear_layers(model)) == 6
    assert model(nn.Tensor(np.zeros((3, 64), dtype=np.float32))).shape == (3, 10)


def test_sigmoid_variant_has_unit_variance_weights():
    model = build_mlp("sigmoid", 64, 10, depth=3, width=256, rng=np.random.default_rng(0))
    weights = linear_layers(model)[1].weight.data
    assert weights.std() == pytest.approx(1.0, rel=0.02)


def test_relu_variant_has_he_weights():
    model = build_mlp("relu", 64, 10, depth=3, width=256, rng=np.random.default_rng(0))
    weights = linear_layers(model)[1].weight.data
    assert weights.std() == pytest.approx(math.sqrt(2 / 256), rel=0.02)


def test_residual_variant_uses_residual_blocks():
    model = build_mlp("residual", 64, 10, depth=4, width=8, rng=np.random.default_rng(0))
    assert sum(isinstance(m, nn.Residual) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.LayerNorm) for m in model.modules()) == 3


def test_unknown_variant_rejected():
    with pytest.raises(ValueError, match="unknown MLP variant 'tanh'"):
        build_mlp("tanh", 64, 10, 3, 8, np.random.default_rng(0))


def test_sequence_classifier_recurrent_gain():
    model = SequenceClassifier(1, 400, 10, gain=3.0, rng=np.random.default_rng(0))
    spectral_radius = np.max(np.abs(np.linalg.eigvals(model.rnn.weight_hh_l0.data)))
    assert spectral_radius == pytest.approx(3.0, rel=0.05)


def test_pixel_sequences_shape():
    x = np.arange(12.0).reshape(2, 6)
    sequences = as_pixel_sequences(x)
    assert sequences.shape == (6, 2, 1)
    assert sequences[4, 1, 0] == x[1, 4]


@pytest.mark.parametrize("field, value", [("depth", 1), ("steps", 0), ("lr", -0.1),
                                          ("dtype", "float16"), ("clip_norm", math.inf)])
def test_invalid_config_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        ExperimentConfig(**{field: value}).validate()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnose")
    config = ExperimentConfig(steps=80)
    return {r.name: r for r in run_experiments(config, VARIANTS, out)}, out


def test_sigmoid_variant_vanishes(results):
    by_name, _ = results
    assert VANISHING in by_name["sigmoid"].kinds


def test_residual_variant_does_not_vanish(results):
    by_name, _ = results
    assert VANISHING not in by_name["residual"].kinds


def test_relu_variant_healthy(results):
    by_name, _ = results
    assert by_name["relu"].kinds == []


def test_rnn_explodes_without_clipping(results):
    by_name, _ = results
    rnn = by_name["rnn"]
    assert rnn.kinds[0] == EXPLODING
    assert rnn.max_grad_norm > 1e5
    assert rnn.final_saturated_fraction > 0.99


def test_clipping_bounds_the_update(results):
    by_name, _ = results
    assert by_name["rnn"].max_update_ratio > 1e3
    assert by_name["rnn_clipped"].max_update_ratio < 0.1


def test_stable_rnn_healthy(results):
    by_name, _ = results
    assert by_name["rnn_stable"].kinds == []


def test_logs_written_per_variant(results):
    by_name, out = results
    for name in VARIANTS:
        lines = (out / name / "monitor.jsonl").read_text().splitlines()
        assert len(lines) == 80


def test_result_dict_is_strict_json(results):
    by_name, _ = results
    for result in by_name.values():
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert len(data["grad_norms"]) == len(data["layers"])


def test_tables_have_one_column_per_variant(results):
    by_name, _ = results
    table = format_layer_table(list(by_name.values()))
    assert table.splitlines()[0].split() == ["layer", *VARIANTS]
    assert len(table.splitlines()) == 1 + 11
    assert "findings:" in format_summary_table(list(by_name.values()))


class FailingModel(nn.Module):
    """A linear classifier whose forward raises from its fourth call on."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10, rng=0)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 3:
            raise KeyboardInterrupt
        return self.linear(x)


def test_interrupted_run_keeps_its_log(tmp_path):
    from propagate.nn.experiments import load_experiment_data, train_monitored
    from propagate.nn.monitor import Monitor, read_log

    x, y, _, _ = load_experiment_data()
    monitor = Monitor(log_path=tmp_path / "monitor.jsonl", flush_every=50)
    with pytest.raises(KeyboardInterrupt):
        train_monitored(FailingModel(), x, y, 10, 32, 0.1, np.random.default_rng(0), monitor)
    assert [r.step for r in read_log(tmp_path / "monitor.jsonl")] == [1, 2, 3]
