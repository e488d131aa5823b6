"""Diagnosis: rules on constructed records, and on real networks forced into each failure."""

import json
import math

import numpy as np
import pytest

from propagate import nn
from propagate.nn.data import load_digits
from propagate.nn.diagnosis import (
    DEAD_RELU,
    EXPLODING,
    LR_TOO_LARGE,
    LR_TOO_SMALL,
    SATURATION,
    SEVERITY_CRITICAL,
    VANISHING,
    Thresholds,
    diagnose,
    format_report,
)
from propagate.nn.experiments import (
    ExperimentConfig,
    build_mlp,
    load_experiment_data,
    run_variant,
    train_monitored,
)
from propagate.nn.monitor import LayerStats, Monitor, StepRecord


def make_records(steps=20, layers=4, **overrides):
    """Records of a healthy run; ``overrides`` maps a field to a function of (step, layer)."""
    records = []
    for step in range(1, steps + 1):
        stats = []
        for index in range(layers):
            values = {
                "weight_grad_norm": 0.5,
                "bias_grad_norm": 0.05,
                "weight_norm": 3.0,
                "delta_norm": 0.1,
                "activation": "ReLU" if index < layers - 1 else None,
                "dead_fraction": 0.05 if index < layers - 1 else None,
                "update_ratio": 1e-3,
            }
            for field, function in overrides.items():
                values[field] = function(step, index)
            stats.append(LayerStats(name=f"layer{index}", kind="Linear", **values))
        records.append(StepRecord(step=step, loss=2.0 / step, lr=0.01, layers=stats))
    return records


def kinds(findings):
    return sorted(finding.kind for finding in findings)


# --- rules on constructed records ---


def test_healthy_records_no_findings():
    assert diagnose(make_records()) == []


def test_empty_records_no_findings():
    assert diagnose([]) == []


def test_vanishing_delta_found():
    records = make_records(delta_norm=lambda step, i: 0.1 * 10.0 ** (1.5 * (i - 3)))
    findings = diagnose(records)
    assert kinds(findings) == [VANISHING]
    assert findings[0].evidence["first_to_last_ratio"] == pytest.approx(10.0**-4.5)
    assert findings[0].evidence["measure"] == "delta_norm"
    assert findings[0].layers == ["layer0", "layer1"]


def test_vanishing_falls_back_to_weight_gradients():
    records = make_records(delta_norm=lambda step, i: None,
                           weight_grad_norm=lambda step, i: 1e-4 if i == 0 else 0.5)
    findings = diagnose(records)
    assert kinds(findings) == [VANISHING]
    assert findings[0].evidence["measure"] == "weight_grad_norm"


def test_vanishing_threshold_is_exclusive():
    records = make_records(delta_norm=lambda step, i: 0.1 * (1e-2 if i == 0 else 1.0))
    assert diagnose(records) == []


def test_vanishing_severity_critical_below_square():
    records = make_records(delta_norm=lambda step, i: 1e-6 if i == 0 else 0.1)
    assert diagnose(records)[0].severity == SEVERITY_CRITICAL


def test_exploding_across_layers_found():
    records = make_records(weight_grad_norm=lambda step, i: 1e4 if i == 0 else 0.5)
    findings = diagnose(records)
    assert kinds(findings) == [EXPLODING]
    assert findings[0].evidence["max_first_to_last_weight_grad_ratio"] == pytest.approx(2e4)


def test_exploding_over_steps_found():
    records = make_records(weight_grad_norm=lambda step, i: 0.5 * (1e4 if step == 15 else 1.0),
                           delta_norm=lambda step, i: 0.1 * (1e4 if step == 15 else 1.0))
    findings = diagnose(records)
    assert kinds(findings) == [EXPLODING]
    assert findings[0].evidence["peak_step"] == 15
    assert findings[0].steps == [15, 15]


def test_nonfinite_gradient_names_step_and_layer():
    records = make_records(weight_grad_norm=lambda step, i: math.nan if step >= 7 and i == 2
                           else 0.5)
    findings = diagnose(records)
    assert kinds(findings) == [EXPLODING]
    assert findings[0].severity == SEVERITY_CRITICAL
    assert findings[0].evidence["first_nonfinite_step"] == 7
    assert "layer2" in findings[0].layers
    assert "step 7" in findings[0].message


def test_nonfinite_loss_found():
    records = make_records()
    records[-1].loss = math.inf
    findings = diagnose(records)
    assert kinds(findings) == [EXPLODING]
    assert "in the loss" in findings[0].message


def test_dead_relu_found():
    records = make_records(dead_fraction=lambda step, i: 0.8 if i == 1 else 0.0)
    findings = diagnose(records)
    assert kinds(findings) == [DEAD_RELU]
    assert findings[0].layers == ["layer1"]
    assert findings[0].evidence["fraction_by_layer"] == {"layer1": 0.8}


def test_dead_relu_needs_median_above_threshold():
    records = make_records(dead_fraction=lambda step, i: 0.9 if step <= 5 else 0.1)
    assert diagnose(records) == []


def test_saturation_found():
    records = make_records(activation=lambda step, i: "Sigmoid",
                           dead_fraction=lambda step, i: None,
                           saturated_fraction=lambda step, i: 0.7 if i == 0 else 0.1)
    findings = diagnose(records)
    assert kinds(findings) == [SATURATION]
    assert findings[0].layers == ["layer0"]


def test_learning_rate_too_large_found():
    records = make_records(update_ratio=lambda step, i: 0.3 if i == 2 else 1e-3)
    findings = diagnose(records)
    assert kinds(findings) == [LR_TOO_LARGE]
    assert findings[0].layers == ["layer2"]


def test_learning_rate_too_small_found():
    records = make_records(update_ratio=lambda step, i: 1e-7)
    assert kinds(diagnose(records)) == [LR_TOO_SMALL]


def test_zero_gradient_layers_ignored_by_lr_rule():
    records = make_records(update_ratio=lambda step, i: 0.0 if i < 3 else 1e-3,
                           weight_grad_norm=lambda step, i: 0.0 if i < 3 else 0.5,
                           bias_grad_norm=lambda step, i: 0.0 if i < 3 else 0.05)
    assert LR_TOO_SMALL not in kinds(diagnose(records))


def test_custom_thresholds_apply():
    records = make_records(delta_norm=lambda step, i: 0.1 * (0.05 if i == 0 else 1.0))
    assert diagnose(records) == []
    assert kinds(diagnose(records, Thresholds(vanishing_ratio=0.1))) == [VANISHING]


@pytest.mark.parametrize("field, value", [("vanishing_ratio", 0.0), ("exploding_growth", -1.0),
                                          ("dead_fraction", 1.5), ("update_ratio_low", math.nan)])
def test_invalid_threshold_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        Thresholds(**{field: value})


def test_dicts_accepted_as_records():
    records = make_records(delta_norm=lambda step, i: 1e-5 if i == 0 else 0.1)
    assert kinds(diagnose([r.to_dict() for r in records])) == [VANISHING]


def test_finding_to_dict_is_strict_json():
    records = make_records(weight_grad_norm=lambda step, i: math.inf if step == 3 else 0.5)
    data = diagnose(records)[0].to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["kind"] == EXPLODING
    assert set(data) == {"kind", "severity", "message", "layers", "steps", "evidence",
                         "remedies"}


def test_report_lists_remedies():
    records = make_records(delta_norm=lambda step, i: 1e-5 if i == 0 else 0.1)
    report = format_report(diagnose(records), records)
    assert "vanishing gradients" in report
    assert "ReLU" in report
    assert "20 recorded steps" in report


def test_report_of_healthy_run():
    assert format_report([], make_records()).startswith("no gradient-flow problems")


# --- real networks on the digits data ---


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def monitored_run(model, x, y, steps=60, lr=0.1, seed=0, clip_norm=None):
    monitor = Monitor()
    train_monitored(model, x, y, steps, 64, lr, np.random.default_rng(seed), monitor,
                    clip_norm=clip_norm)
    return monitor.records


def test_deep_sigmoid_vanishes(digits):
    # 12 sigmoid layers with N(0, 1) weights; pixels scaled to [0, 1] keep the first layer
    # out of saturation, so vanishing is the only finding.
    x, y = digits
    model = build_mlp("sigmoid", 64, 10, depth=12, width=32, rng=np.random.default_rng(0))
    findings = diagnose(monitored_run(model, x / 16.0, y))
    assert kinds(findings) == [VANISHING]


def test_dead_relu_network(digits):
    # Biases of -10 on standardised inputs switch every hidden ReLU off for every example.
    x, y = digits
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    model = build_mlp("relu", 64, 10, depth=4, width=32, rng=np.random.default_rng(0))
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features == 32:
            module.bias.data[...] = -10.0
    findings = diagnose(monitored_run(model, x, y))
    assert kinds(findings) == [DEAD_RELU]
    assert findings[0].severity == SEVERITY_CRITICAL


def test_healthy_relu_network():
    data = load_experiment_data(seed=0)
    result = run_variant("relu", data, ExperimentConfig(steps=100, depth=4))
    assert result.findings == []


def test_rnn_with_large_recurrent_weights_explodes():
    # Recurrent gain 3 makes the tanh dynamics chaotic: the first step's gradient is about
    # 1e7 times the readout's, and the huge step that follows saturates every unit.
    data = load_experiment_data(seed=0)
    result = run_variant("rnn", data, ExperimentConfig(steps=40))
    assert kinds(result.findings) == [EXPLODING, SATURATION]
    assert result.findings[0].kind == EXPLODING


def test_contained_explosion_is_warning():
    records = make_records(weight_grad_norm=lambda step, i: 1e8 if i == 0 else 0.5)
    finding = diagnose(records)[0]
    assert finding.kind == EXPLODING
    assert finding.severity == "warning"
    assert "bounded" in finding.message


def test_wrecking_explosion_is_critical():
    records = make_records(weight_grad_norm=lambda step, i: 1e8 if i == 0 else 0.5,
                           update_ratio=lambda step, i: 50.0 if step == 1 else 1e-3)
    finding = diagnose(records)[0]
    assert finding.severity == SEVERITY_CRITICAL


def test_sigmoid_saturation_states_its_derivative_bound():
    records = make_records(activation=lambda step, i: "Sigmoid",
                           dead_fraction=lambda step, i: None,
                           saturated_fraction=lambda step, i: 0.7)
    message = diagnose(records)[0].message
    # σ'(a) = a(1 − a) at a = 0.01 is 0.0099.
    assert "σ' < 0.0099" in message
    assert "tanh" not in message


def test_tanh_saturation_states_its_derivative_bound():
    records = make_records(activation=lambda step, i: "Tanh",
                           dead_fraction=lambda step, i: None,
                           saturated_fraction=lambda step, i: 0.7)
    message = diagnose(records)[0].message
    # tanh' = 1 − a² at |a| = 0.99 is 0.0199.
    assert "tanh' < 0.02" in message
    assert "sigmoid" not in message


def test_vanishing_found_behind_frozen_layer():
    # Layer 0 is frozen: no δ and no gradient. The ratio compares layer 1 with the last.
    def delta(step, i):
        return None if i == 0 else 0.1 * 10.0 ** (2 * (i - 3))

    records = make_records(delta_norm=delta,
                           weight_grad_norm=lambda step, i: None if i == 0 else 0.5,
                           bias_grad_norm=lambda step, i: None if i == 0 else 0.05,
                           update_ratio=lambda step, i: None if i == 0 else 1e-3)
    findings = diagnose(records)
    assert kinds(findings) == [VANISHING]
    assert findings[0].evidence["first_to_last_ratio"] == pytest.approx(1e-4)
    assert findings[0].layers == ["layer1"]
