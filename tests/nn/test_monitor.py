"""Monitor: per-layer statistics against hand-computed backprop, and the JSON lines log."""

import json
import math

import numpy as np
import pytest

from propagate import nn
from propagate.errors import CheckpointError
from propagate.nn.monitor import (
    LayerStats,
    Monitor,
    MonitorLog,
    StepRecord,
    _squared_norm,
    attach_monitor,
    read_log,
    record_from_json,
    record_to_json,
    summarize_array,
    write_log,
)


def small_model(rng):
    return nn.Sequential(
        nn.Linear(6, 5, rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(5, 4, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(4, 3, rng=rng, dtype=np.float64),
    )


def weights(model):
    return [(m.weight.data.copy(), m.bias.data.copy()) for m in model if isinstance(m, nn.Linear)]


def manual_backprop(params, x, y):
    """Forward and backward of the small model in plain NumPy (the chain rule by hand)."""
    (w1, b1), (w2, b2), (w3, b3) = params
    z1 = x @ w1.T + b1
    a1 = np.tanh(z1)
    z2 = a1 @ w2.T + b2
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ w3.T + b3
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(3)[y]
    n = len(x)

    delta3 = (p - onehot) / n
    delta2 = (delta3 @ w3) * (z2 > 0)
    delta1 = (delta2 @ w2) * (1.0 - a1**2)
    grads = [delta1.T @ x, delta2.T @ a1, delta3.T @ a2]
    return {"z1": z1, "a1": a1, "a2": a2, "deltas": [delta1, delta2, delta3], "grads": grads,
            "bias_grads": [delta1.sum(0), delta2.sum(0), delta3.sum(0)]}


def loss_from_z1(params, z1, y):
    (_, _), (w2, b2), (w3, b3) = params
    a2 = np.maximum(np.tanh(z1) @ w2.T + b2, 0.0)
    z3 = a2 @ w3.T + b3
    shifted = z3 - z3.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


@pytest.fixture
def batch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 6))
    y = rng.integers(0, 3, size=8)
    return x, y


def run_steps(model, monitor, x, y, steps, lr=0.1):
    optimizer = nn.optim.SGD(model.parameters(), lr=lr)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(nn.Tensor(x)), y)
        loss.backward()
        monitor.record(step, loss, lr=optimizer.lr)
        optimizer.step()
        monitor.after_update()
    monitor.close()


def test_delta_norms_match_manual_backprop(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    reference = manual_backprop(weights(model), x, y)
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1)

    layers = monitor.records[0].layers
    assert [layer.name for layer in layers] == ["0", "2", "4"]
    for layer, delta in zip(layers, reference["deltas"], strict=True):
        assert layer.delta_norm == pytest.approx(np.linalg.norm(delta), rel=1e-10)


def test_first_delta_matches_finite_differences(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    params = weights(model)
    z1 = x @ params[0][0].T + params[0][1]
    h = 1e-6
    delta1 = np.zeros_like(z1)
    for index in np.ndindex(*z1.shape):
        bump = np.zeros_like(z1)
        bump[index] = h
        delta1[index] = (loss_from_z1(params, z1 + bump, y)
                         - loss_from_z1(params, z1 - bump, y)) / (2 * h)
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1)

    assert monitor.records[0].layers[0].delta_norm == pytest.approx(
        np.linalg.norm(delta1), rel=1e-6)


def test_gradient_norms_match_manual_backprop(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    reference = manual_backprop(weights(model), x, y)
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1)

    layers = monitor.records[0].layers
    for layer, grad, bias_grad in zip(layers, reference["grads"], reference["bias_grads"],
                                      strict=True):
        assert layer.weight_grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-10)
        assert layer.bias_grad_norm == pytest.approx(np.linalg.norm(bias_grad), rel=1e-10)


def test_activation_statistics_follow_their_layer(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    reference = manual_backprop(weights(model), x, y)
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1)

    tanh_layer, relu_layer, head = monitor.records[0].layers
    a1, a2 = reference["a1"], reference["a2"]
    assert tanh_layer.activation == "Tanh"
    assert tanh_layer.activation_mean == pytest.approx(a1.mean())
    assert tanh_layer.activation_std == pytest.approx(a1.std())
    assert tanh_layer.saturated_fraction == pytest.approx(np.mean(np.abs(a1) > 0.99))
    assert relu_layer.activation == "ReLU"
    assert relu_layer.dead_fraction == pytest.approx(np.mean(np.all(a2 == 0, axis=0)))
    assert head.activation is None


def test_update_ratio_matches_sgd_step(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    before = weights(model)
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1, lr=0.1)
    after = weights(model)

    for layer, (w0, b0), (w1, b1) in zip(monitor.records[0].layers, before, after, strict=True):
        change = math.sqrt(np.sum((w1 - w0) ** 2) + np.sum((b1 - b0) ** 2))
        size = math.sqrt(np.sum(w0**2) + np.sum(b0**2))
        assert layer.update_ratio == pytest.approx(change / size, rel=1e-9)
        assert layer.weight_norm == pytest.approx(np.linalg.norm(w0))


def test_every_records_multiples_only(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor(every=2).attach(model)
    run_steps(model, monitor, x, y, steps=5)

    assert [record.step for record in monitor.records] == [2, 4]
    assert all(layer.delta_norm is not None for layer in monitor.records[0].layers)


def test_evaluation_forward_not_captured(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    reference = manual_backprop(weights(model), x, y)
    monitor = Monitor().attach(model)
    with nn.no_grad():
        model(nn.Tensor(np.ones((3, 6))))
    run_steps(model, monitor, x, y, steps=1)

    assert monitor.records[0].layers[0].activation_mean == pytest.approx(reference["a1"].mean())


def test_record_before_attach_raises():
    with pytest.raises(ValueError, match="attach"):
        Monitor().record(1, 0.5)


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every"):
        Monitor(every=0)


def test_model_without_layers_rejected():
    with pytest.raises(ValueError, match="no Linear or RNN"):
        Monitor().attach(nn.Sequential(nn.ReLU()))


def test_rnn_layer_recorded():
    rng = np.random.default_rng(0)
    rnn = nn.RNN(2, 3, rng=rng, dtype=np.float64)
    x = nn.Tensor(rng.normal(size=(5, 4, 2)))
    monitor = Monitor().attach(rnn)
    output, _ = rnn(x)
    loss = (output * output).sum()
    loss.backward()
    record = monitor.record(1, loss)

    layer = record.layers[0]
    expected = math.sqrt(np.sum(rnn.weight_ih_l0.grad**2) + np.sum(rnn.weight_hh_l0.grad**2))
    assert layer.kind == "RNN"
    assert layer.weight_grad_norm == pytest.approx(expected)
    assert layer.delta_norm == pytest.approx(np.linalg.norm(2 * output.data))
    assert layer.saturated_fraction == pytest.approx(np.mean(np.abs(output.data) > 0.99))


def test_trainer_callback_writes_log(tmp_path):
    from propagate.nn.data import load_digits
    from propagate.nn.models import MLPSpec
    from propagate.nn.train import TrainConfig, Trainer, split_data

    x, y = load_digits()
    config = TrainConfig(epochs=1, batch_size=128, optimizer="sgd", lr=0.1, seed=0)
    data = split_data(x, y, "classification", config)
    trainer = Trainer(MLPSpec(64, (32, 16), 10, "relu"), data, config, out_dir=tmp_path,
                      progress=False)
    attach_monitor(trainer, every=3)
    trainer.fit()

    records = read_log(tmp_path / "monitor.jsonl")
    assert [r.step for r in records] == list(range(3, trainer.step + 1, 3))
    assert len(records[0].layers) == 3
    assert all(layer.update_ratio > 0 for layer in records[-1].layers)


def test_squared_norm_survives_float32_overflow():
    values = np.full(4, 1e20, dtype=np.float32)
    with np.errstate(over="ignore"):
        total = _squared_norm(values)
    assert math.sqrt(total) == pytest.approx(2e20, rel=1e-6)


def test_squared_norm_keeps_infinity():
    values = np.array([1.0, np.inf], dtype=np.float32)
    assert _squared_norm(values) == math.inf


# --- activation statistics on hand-built arrays ---


def test_sigmoid_saturation_counts_both_ends():
    values = np.array([[0.005, 0.5, 0.995, 0.0101]])
    stats = summarize_array(values, "Sigmoid")
    assert stats["saturated_fraction"] == 0.5


def test_tanh_saturation_threshold():
    values = np.array([[-0.995, 0.99, 0.2, 0.999]])
    stats = summarize_array(values, "tanh")
    assert stats["saturated_fraction"] == 0.5


def test_dead_units_need_whole_batch():
    values = np.array([[0.0, 0.0, 1.0, 0.0],
                       [0.0, 2.0, 0.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0]])
    stats = summarize_array(values, "ReLU")
    assert stats["dead_fraction"] == 0.5


def test_dead_units_over_time_steps():
    values = np.zeros((3, 2, 4))
    values[2, 1, 0] = 1.0
    stats = summarize_array(values, "relu")
    assert stats["dead_fraction"] == 0.75


def test_mean_and_std_of_activation():
    values = np.array([[1.0, 3.0], [5.0, 7.0]])
    stats = summarize_array(values, "GELU")
    assert stats["activation_mean"] == 4.0
    assert stats["activation_std"] == pytest.approx(math.sqrt(5.0))
    assert stats["saturated_fraction"] is None
    assert stats["dead_fraction"] is None


# --- log ---


def sample_records():
    layers = [
        LayerStats(name="0", kind="Linear", weight_grad_norm=math.nan, bias_grad_norm=1.5,
                   weight_norm=2.0, delta_norm=math.inf, activation="ReLU", dead_fraction=0.25,
                   update_ratio=1e-3),
        LayerStats(name="2", kind="Linear", weight_grad_norm=0.1),
    ]
    return [StepRecord(step=1, loss=2.3, lr=0.1, layers=layers, epoch=1),
            StepRecord(step=2, loss=-math.inf, lr=None, layers=[])]


def same_record(a: StepRecord, b: StepRecord) -> bool:
    return record_to_json(a) == record_to_json(b)


def test_log_round_trip(tmp_path):
    records = sample_records()
    write_log(tmp_path / "monitor.jsonl", records)
    back = read_log(tmp_path / "monitor.jsonl")
    assert len(back) == 2
    assert all(same_record(a, b) for a, b in zip(records, back, strict=True))
    assert math.isnan(back[0].layers[0].weight_grad_norm)
    assert back[0].layers[0].delta_norm == math.inf
    assert back[1].loss == -math.inf


def test_log_lines_are_strict_json(tmp_path):
    write_log(tmp_path / "monitor.jsonl", sample_records())

    def reject(token):
        raise ValueError(f"non-standard JSON token {token}")

    for line in (tmp_path / "monitor.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=reject)


def test_appending_log_round_trip(tmp_path):
    path = tmp_path / "run" / "monitor.jsonl"
    records = sample_records()
    with MonitorLog(path, flush_every=5) as log:
        for record in records:
            log.write(record)
    back = read_log(path)
    assert all(same_record(a, b) for a, b in zip(records, back, strict=True))


def test_torn_last_line_skipped(tmp_path):
    path = tmp_path / "monitor.jsonl"
    write_log(path, sample_records())
    with open(path, "a") as handle:
        handle.write('{"schema":1,"step":3,"lo')
    assert [r.step for r in read_log(path)] == [1, 2]


def test_corrupt_middle_line_raises(tmp_path):
    path = tmp_path / "monitor.jsonl"
    path.write_text('{"step": 1}\nnot json\n{"step": 2, "loss": 1.0}\n')
    with pytest.raises(CheckpointError, match="line 1"):
        read_log(path)


def test_missing_log_raises(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_log(tmp_path / "none.jsonl")


def test_flush_every_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="flush_every"):
        MonitorLog(tmp_path / "x.jsonl", flush_every=0)


def test_resumed_run_drops_later_records(tmp_path):
    class ResumedTrainer:
        model = small_model(np.random.default_rng(0))
        step = 1
        out_dir = tmp_path
        callbacks = []

    path = tmp_path / "monitor.jsonl"
    write_log(path, [StepRecord(step=s, loss=1.0) for s in (1, 2, 3)])
    monitor = attach_monitor(ResumedTrainer())
    monitor.on_train_begin(ResumedTrainer())
    assert [r.step for r in read_log(path)] == [1]


def test_fresh_run_empties_old_log(tmp_path):
    class FreshTrainer:
        model = small_model(np.random.default_rng(0))
        step = 0
        out_dir = tmp_path
        callbacks = []

    path = tmp_path / "monitor.jsonl"
    write_log(path, [StepRecord(step=s, loss=1.0) for s in (1, 2)])
    attach_monitor(FreshTrainer()).on_train_begin(FreshTrainer())
    assert read_log(path) == []


def test_unknown_layer_keys_ignored():
    line = ('{"schema":2,"step":4,"loss":1.5,"lr":0.1,'
            '"layers":[{"name":"0","kind":"Linear","weight_grad_norm":0.5,"new_field":3}]}')
    record = record_from_json(line)
    assert record.layers[0].weight_grad_norm == 0.5


def test_record_after_close_raises(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor().attach(model)
    run_steps(model, monitor, x, y, steps=1)
    with pytest.raises(ValueError, match="not attached"):
        monitor.record(2, 0.5)


def test_update_ratio_can_be_skipped(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor(track_updates=False).attach(model)
    run_steps(model, monitor, x, y, steps=2)
    assert all(layer.update_ratio is None for layer in monitor.records[-1].layers)
    assert monitor.records[-1].layers[0].weight_grad_norm > 0


@pytest.mark.parametrize("line", [
    '{"step":1,"loss":null,"layers":[]}',
    '{"step":1,"loss":1.0,"layers":[1]}',
    '[1, 2]',
    '{"step":1,"loss":1.0,"layers":[{"name":"0","kind":"Linear","weight_grad_norm":"abc"}]}',
    '{"step":1,"loss":1.0,"layers":[{"name":0,"kind":"Linear"}]}',
    '{"step":1.7,"loss":1.0,"layers":[]}',
    '{"step":true,"loss":1.0,"layers":[]}',
    '{"step":1,"loss":1.0,"layers":{"a":1}}',
    '{"step":1,"loss":1.0,"layers":[{"kind":"Linear"}]}',
])
def test_malformed_record_raises_checkpoint_error(tmp_path, line):
    path = tmp_path / "monitor.jsonl"
    path.write_text(line + '\n{"step":2,"loss":1.0,"layers":[]}\n')
    with pytest.raises(CheckpointError, match="line 1: invalid monitor record"):
        read_log(path)


def test_invalid_json_line_named_once(tmp_path):
    path = tmp_path / "monitor.jsonl"
    path.write_text('not json\n{"step":2,"loss":1.0,"layers":[]}\n')
    with pytest.raises(CheckpointError, match=r"line 1: invalid JSON \(Expecting value"):
        read_log(path)


def test_binary_log_raises_checkpoint_error(tmp_path):
    path = tmp_path / "monitor.jsonl"
    path.write_bytes(b"\x00\xff\xfe\n{}\n")
    with pytest.raises(CheckpointError, match="not UTF-8"):
        read_log(path)


def test_layer_named_like_nonfinite_text_kept():
    line = '{"step":1,"loss":"NaN","layers":[{"name":"Infinity","kind":"Linear"}]}'
    record = record_from_json(line)
    assert record.layers[0].name == "Infinity"
    assert math.isnan(record.loss)


def test_rnn_delta_adds_output_and_last_state_gradients():
    rng = np.random.default_rng(3)
    rnn = nn.RNN(2, 3, rng=rng, dtype=np.float64)
    x = nn.Tensor(rng.normal(size=(4, 5, 2)))
    monitor = Monitor().attach(rnn)
    output, last = rnn(x)
    loss = (output * output).sum() + (last * last * last).sum()
    loss.backward()
    record = monitor.record(1, loss)

    # The error reaching the hidden states: 2·output from the first term, and 3·h_T² at the
    # last step from the second, where h_n and output[-1] are the same state.
    delta = 2 * output.data
    delta[-1] += 3 * last.data[0] ** 2
    assert record.layers[0].delta_norm == pytest.approx(np.linalg.norm(delta), rel=1e-12)


def test_rnn_delta_of_last_state_only():
    rng = np.random.default_rng(4)
    rnn = nn.RNN(2, 3, rng=rng, dtype=np.float64)
    monitor = Monitor().attach(rnn)
    _, last = rnn(nn.Tensor(rng.normal(size=(4, 5, 2))))
    loss = (last * last).sum()
    loss.backward()
    record = monitor.record(1, loss)
    assert record.layers[0].delta_norm == pytest.approx(np.linalg.norm(2 * last.data))


def run_recorded_steps_only(model, monitor, x, y, steps, begin=False):
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    for step in range(1, steps + 1):
        if begin:
            monitor.begin_step(step)
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(nn.Tensor(x)), y)
        loss.backward()
        if monitor.should_record(step):
            monitor.record(step, loss, lr=optimizer.lr)
        optimizer.step()
        if monitor.should_record(step):
            monitor.after_update()
    monitor.close()


def test_record_on_recorded_steps_only_warns(batch, caplog):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor(every=3).attach(model)
    with caplog.at_level("WARNING", logger="propagate.nn.monitor"):
        run_recorded_steps_only(model, monitor, x, y, steps=9)
    assert monitor.records[1].layers[0].delta_norm is None
    assert "begin_step" in caplog.text


def test_begin_step_arms_recorded_steps(batch, caplog):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor(every=3).attach(model)
    with caplog.at_level("WARNING", logger="propagate.nn.monitor"):
        run_recorded_steps_only(model, monitor, x, y, steps=9, begin=True)
    assert [r.step for r in monitor.records] == [3, 6, 9]
    assert all(r.layers[0].delta_norm is not None for r in monitor.records)
    assert caplog.text == ""


def test_numpy_integers_accepted(batch, tmp_path):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    monitor = Monitor(every=np.int64(2), log_path=tmp_path / "monitor.jsonl").attach(model)
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    for step in np.arange(1, 5):
        optimizer.zero_grad()
        loss = nn.cross_entropy(model(nn.Tensor(x)), y)
        loss.backward()
        monitor.record(step, loss, epoch=np.int32(1))
        optimizer.step()
        monitor.after_update()
    monitor.close()
    assert [r.step for r in read_log(tmp_path / "monitor.jsonl")] == [2, 4]


@pytest.mark.parametrize("every", [True, 2.0, "2"])
def test_every_must_be_whole_number(every):
    with pytest.raises(ValueError, match="whole number"):
        Monitor(every=every)


@pytest.mark.parametrize("spread", [1e-2, 1e-3, 1e-4])
def test_activation_std_near_constant_float32(spread):
    # Sigmoid outputs of a network with tiny weights: mean 1/2, small spread.
    rng = np.random.default_rng(5)
    values = (0.5 + spread * rng.standard_normal((128, 256))).astype(np.float32)
    stats = summarize_array(values, "Sigmoid")
    reference = values.astype(np.float64).std()
    assert stats["activation_std"] == pytest.approx(reference, rel=1e-4)


def test_frozen_first_layer_keeps_forward_order(batch):
    x, y = batch
    model = small_model(np.random.default_rng(0))
    for parameter in model[0].parameters():
        parameter.requires_grad = False
    monitor = Monitor().attach(model)
    loss = nn.cross_entropy(model(nn.Tensor(x)), y)
    loss.backward()
    record = monitor.record(1, loss)

    assert record.layer_names() == ["0", "2", "4"]
    assert record.layers[0].delta_norm is None
    assert record.layers[0].activation == "Tanh"
    assert record.layers[1].delta_norm > 0
