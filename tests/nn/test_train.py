"""Training loop: accuracy on digits, history, callbacks, clipping, schedules, regression."""

import json
import math
import os
import sys

import numpy as np
import pytest

from propagate.errors import DataError, NonFiniteError
from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, TrainingData, split_data


def digits_trainer(tmp_path=None, hidden=(32,), callbacks=(), **settings):
    config = TrainConfig(**settings)
    x, y = load_digits(np.dtype(config.dtype))
    data = split_data(x, y, "classification", config)
    return Trainer(
        MLPSpec(64, hidden, 10),
        data,
        config,
        out_dir=tmp_path,
        callbacks=callbacks,
        progress=False,
    )


def test_digits_default_reaches_95_percent(tmp_path):
    trainer = digits_trainer(tmp_path, hidden=(64, 32))
    history = trainer.fit()
    assert len(history) == TrainConfig().epochs
    assert history[-1]["test_accuracy"] >= 0.95


def test_history_file_matches_records(tmp_path):
    trainer = digits_trainer(tmp_path, epochs=3)
    history = trainer.fit()
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == history


def test_history_record_fields(tmp_path):
    trainer = digits_trainer(tmp_path, epochs=2, batch_size=100)
    history = trainer.fit()
    steps_per_epoch = math.ceil(len(trainer.x_train) / 100)
    assert [r["epoch"] for r in history] == [1, 2]
    assert [r["step"] for r in history] == [steps_per_epoch, 2 * steps_per_epoch]
    expected = {
        "epoch",
        "step",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "seconds",
    }
    assert set(history[0]) == expected
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in history)
    assert all(r["seconds"] > 0 for r in history)


def test_test_metrics_match_evaluate(tmp_path):
    trainer = digits_trainer(tmp_path, epochs=2)
    record = trainer.fit()[-1]
    again = trainer.evaluate(trainer.data.x_test, trainer.data.y_test)
    assert again["loss"] == pytest.approx(record["test_loss"], rel=1e-6)
    assert again["accuracy"] == record["test_accuracy"]
    predicted = trainer.predict(trainer.data.x_test)
    assert np.mean(predicted == trainer.data.y_test) == record["test_accuracy"]


def test_checkpoint_written_each_epoch(tmp_path):
    seen = []

    class Spy:
        def on_epoch_end(self, trainer, epoch, record):
            seen.append((epoch, (tmp_path / "checkpoint.npz").stat().st_mtime_ns))

    digits_trainer(tmp_path, epochs=2, callbacks=[Spy()]).fit()
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert (tmp_path / "checkpoint.json").exists()


def test_same_seed_same_run():
    first = digits_trainer(epochs=2, seed=7)
    second = digits_trainer(epochs=2, seed=7)
    first.fit()
    second.fit()
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert np.array_equal(a, b), name


def test_other_seed_other_run():
    first = digits_trainer(epochs=1, seed=1)
    second = digits_trainer(epochs=1, seed=2)
    first.fit()
    second.fit()
    assert not np.array_equal(
        first.model.state_dict()["0.weight"], second.model.state_dict()["0.weight"]
    )


def test_float32_stays_float32():
    trainer = digits_trainer(epochs=1, dtype="float32")
    trainer.fit()
    assert all(p.data.dtype == np.float32 for p in trainer.model.parameters())
    assert trainer.x_train.dtype == np.float32


def test_float64_run():
    trainer = digits_trainer(epochs=1, dtype="float64")
    trainer.fit()
    assert all(p.data.dtype == np.float64 for p in trainer.model.parameters())


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw", "rmsprop"])
def test_each_optimizer_learns(optimizer):
    lr = {"sgd": 0.1, "momentum": 0.05, "adam": 3e-3, "adamw": 3e-3, "rmsprop": 1e-3}[optimizer]
    trainer = digits_trainer(epochs=3, optimizer=optimizer, lr=lr)
    history = trainer.fit()
    assert history[-1]["test_accuracy"] > 0.85, optimizer


def test_step_schedule_lr_in_history():
    trainer = digits_trainer(epochs=5, schedule="step", step_size=2, gamma=0.5, lr=0.01)
    history = trainer.fit()
    assert [r["lr"] for r in history] == [0.01, 0.01, 0.005, 0.005, 0.0025]


def test_cosine_schedule_lr_in_history():
    trainer = digits_trainer(epochs=4, schedule="cosine", lr=0.01)
    history = trainer.fit()
    expected = [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert [r["lr"] for r in history] == pytest.approx(expected, rel=1e-12)


class Recorder:
    """Callback that logs every call and checks what the trainer exposes at each point."""

    def __init__(self):
        self.calls = []
        self.before = None
        self.problems = []

    def on_train_begin(self, trainer):
        self.calls.append("begin")

    def on_step_end(self, trainer, step, batch_loss):
        self.calls.append(("step", step))
        if step != trainer.step + 1:
            self.problems.append(f"step {step} but trainer.step {trainer.step}")
        if len(trainer.history) != trainer.current_epoch - 1:
            self.problems.append(f"current_epoch {trainer.current_epoch} at step {step}")
        if any(p.grad is None for p in trainer.model.parameters()):
            self.problems.append(f"missing gradient at step {step}")
        if trainer.batch is None or len(trainer.batch[0]) != len(trainer.batch[1]):
            self.problems.append(f"no batch at step {step}")
        if not math.isfinite(batch_loss):
            self.problems.append(f"loss {batch_loss} at step {step}")
        self.before = [p.data.copy() for p in trainer.model.parameters()]

    def on_update_end(self, trainer, step, batch_loss):
        self.calls.append(("update", step))
        after = [p.data for p in trainer.model.parameters()]
        if all(np.array_equal(a, b) for a, b in zip(self.before, after, strict=True)):
            self.problems.append(f"parameters unchanged after step {step}")
        if trainer.step != step:
            self.problems.append(f"trainer.step {trainer.step} after update {step}")

    def on_epoch_end(self, trainer, epoch, record):
        self.calls.append(("epoch", epoch, record["epoch"]))

    def on_train_end(self, trainer):
        self.calls.append("end")


def test_callbacks_order():
    recorder = Recorder()
    trainer = digits_trainer(epochs=2, batch_size=500, callbacks=[recorder])
    trainer.fit()
    steps = math.ceil(len(trainer.x_train) / 500)
    expected = ["begin"]
    for epoch in (1, 2):
        for step in range((epoch - 1) * steps + 1, epoch * steps + 1):
            expected += [("step", step), ("update", step)]
        expected.append(("epoch", epoch, epoch))
    expected.append("end")
    assert recorder.calls == expected


def test_callbacks_see_gradients_and_updates():
    recorder = Recorder()
    digits_trainer(epochs=1, batch_size=200, callbacks=[recorder]).fit()
    assert recorder.problems == []


def test_callback_without_hooks_is_fine():
    digits_trainer(epochs=1, batch_size=500, callbacks=[object()]).fit()


def test_stop_training_from_callback():
    class StopAfterTwo:
        def on_epoch_end(self, trainer, epoch, record):
            if epoch == 2:
                trainer.stop_training = True

    trainer = digits_trainer(epochs=5, callbacks=[StopAfterTwo()])
    history = trainer.fit()
    assert len(history) == 2


def test_clip_norm_bounds_sgd_update():
    # Plain SGD moves the parameters by lr * g, and clipping makes ||g|| <= clip_norm.
    lr, clip = 1.0, 1e-3
    norms = []

    class UpdateNorm:
        def on_step_end(self, trainer, step, batch_loss):
            self.before = [p.data.astype(np.float64) for p in trainer.model.parameters()]

        def on_update_end(self, trainer, step, batch_loss):
            after = [p.data.astype(np.float64) for p in trainer.model.parameters()]
            squares = sum(np.sum((a - b) ** 2) for a, b in zip(after, self.before, strict=True))
            norms.append(math.sqrt(squares))

    digits_trainer(
        epochs=1, optimizer="sgd", lr=lr, clip_norm=clip, dtype="float64", callbacks=[UpdateNorm()]
    ).fit()
    assert max(norms) <= lr * clip * (1 + 1e-9)
    assert max(norms) == pytest.approx(lr * clip, rel=1e-6)


def test_regression_reports_rmse(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(400, 3))
    y = 100.0 + 30.0 * x[:, 0] - 20.0 * x[:, 1] ** 2 + rng.normal(0, 0.05, 400)
    config = TrainConfig(epochs=100, lr=1e-2, dtype="float64")
    data = split_data(x, y, "regression", config)
    trainer = Trainer(MLPSpec(3, (32,), 1), data, config, out_dir=tmp_path, progress=False)
    record = trainer.fit()[-1]
    assert "test_rmse" in record
    assert "test_accuracy" not in record

    # Reference: a least-squares linear fit cannot capture the x1**2 term.
    design = np.c_[data.x_train, np.ones(len(data.x_train))]
    coef, *_ = np.linalg.lstsq(design, data.y_train, rcond=None)
    linear = np.c_[data.x_test, np.ones(len(data.x_test))] @ coef
    linear_rmse = np.sqrt(np.mean((linear - data.y_test) ** 2))
    assert record["test_rmse"] < 0.4 * linear_rmse

    rmse = np.sqrt(np.mean((trainer.predict(data.x_test) - data.y_test) ** 2))
    assert rmse == pytest.approx(record["test_rmse"], rel=1e-9)


def test_model_data_mismatch():
    config = TrainConfig(epochs=1)
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    with pytest.raises(DataError, match="takes 10 inputs but the data has 64"):
        Trainer(MLPSpec(10, (8,), 10), data, config)
    with pytest.raises(DataError, match="has 3 outputs but the classification data needs 10"):
        Trainer(MLPSpec(64, (8,), 3), data, config)


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": -4}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive finite number"),
        ({"lr": math.nan}, "lr must be a positive finite number"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"schedule": "cyclic"}, "unknown schedule 'cyclic'"),
        ({"clip_norm": 0.0}, "clip_norm must be a positive finite number"),
        ({"momentum": 1.0}, "momentum must be below 1"),
        ({"dtype": "float16"}, "dtype must be float32 or float64"),
        ({"seed": -1}, "seed must be non-negative"),
    ],
)
def test_config_rejects(setting, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**setting).validate()


def test_training_data_outputs():
    data = TrainingData(
        np.zeros((4, 2)),
        np.array([0, 2, 1, 0]),
        np.zeros((2, 2)),
        np.array([1, 2]),
        "classification",
    )
    assert data.n_outputs == 3
    data.task = "regression"
    assert data.n_outputs == 1


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_progress_bar_on_zero_size_terminal(monkeypatch):
    import pty
    import threading

    # A fresh pseudo-terminal reports 0 columns and 0 rows until its size is set.
    master, slave = pty.openpty()
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with open(slave, "w", buffering=1, encoding="utf-8", closefd=True) as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        trainer = digits_trainer(epochs=1, batch_size=256)
        trainer.progress = True
        trainer.fit()
        monkeypatch.undo()
    reader.join(timeout=10)
    os.close(master)
    output = b"".join(chunks).decode("utf-8", errors="replace")
    assert "epoch 1/1" in output
    assert "step" in output


def test_train_end_called_on_divergence(tmp_path):
    from propagate.nn.monitor import attach_monitor, read_log

    config = TrainConfig(epochs=3, batch_size=32, optimizer="sgd", lr=50.0, seed=0)
    x, y = load_digits()
    data = split_data(x, y, "classification", config)
    trainer = Trainer(
        MLPSpec(64, (64, 64, 64), 10, "relu"), data, config, out_dir=tmp_path, progress=False
    )
    monitor = attach_monitor(trainer, every=1)
    with pytest.raises(NonFiniteError):
        trainer.fit()
    assert monitor.records
    assert len(read_log(tmp_path / "monitor.jsonl")) == len(monitor.records)
