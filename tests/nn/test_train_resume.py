"""Resuming from a checkpoint, stopping on divergence, and surviving a crash during save."""

import json
import math
import os
import warnings

import numpy as np
import pytest

from propagate.errors import CheckpointError, NonFiniteError
from propagate.nn.checkpoint import load_checkpoint, save_checkpoint
from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import DivergenceError, TrainConfig, Trainer, split_data


def digits_data(config):
    x, y = load_digits(np.dtype(config.dtype))
    return split_data(x, y, "classification", config)


def new_trainer(out_dir, callbacks=(), **settings):
    config = TrainConfig(**settings)
    return Trainer(
        MLPSpec(64, (32, 16), 10),
        digits_data(config),
        config,
        out_dir=out_dir,
        callbacks=callbacks,
        progress=False,
    )


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


RESUME_CASES = [
    {"optimizer": "adam"},
    {"optimizer": "momentum", "lr": 0.05, "schedule": "step", "step_size": 1, "gamma": 0.7},
    {"optimizer": "rmsprop", "lr": 1e-3, "schedule": "cosine", "clip_norm": 1.0},
    {"optimizer": "adamw", "weight_decay": 0.01, "dtype": "float64"},
]


@pytest.mark.parametrize("settings", RESUME_CASES, ids=lambda s: s["optimizer"])
def test_resume_equals_uninterrupted(tmp_path, settings):
    whole = new_trainer(tmp_path / "whole", epochs=4, **settings)
    whole.fit()

    first = new_trainer(tmp_path / "split", epochs=4, **settings)

    class StopAfterTwo:
        def on_epoch_end(self, trainer, epoch, record):
            trainer.stop_training = epoch == 2

    first.callbacks.append(StopAfterTwo())
    first.fit()
    assert first.epoch == 2

    config = TrainConfig(epochs=4, **settings)
    resumed = Trainer.resume(tmp_path / "split", digits_data(config), progress=False)
    assert resumed.epoch == 2
    resumed.fit()

    for (name, a), (_, b) in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert np.array_equal(a, b), name
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    assert resumed.step == whole.step
    assert resumed.lr == whole.lr


def test_resume_history_file(tmp_path):
    new_trainer(tmp_path, epochs=2).fit()
    config = TrainConfig(epochs=2)
    resumed = Trainer.resume(tmp_path, digits_data(config), epochs=3, progress=False)
    resumed.fit()
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_drops_records_after_checkpoint(tmp_path):
    new_trainer(tmp_path, epochs=2).fit()
    with open(tmp_path / "history.jsonl", "a") as handle:
        handle.write(json.dumps({"epoch": 3, "stray": True}) + "\n")
    config = TrainConfig(epochs=2)
    resumed = Trainer.resume(tmp_path, digits_data(config), epochs=3, progress=False)
    resumed.fit()
    records = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert all("stray" not in r for r in records)


def test_resume_finished_run_trains_nothing(tmp_path):
    new_trainer(tmp_path, epochs=2).fit()
    before = (tmp_path / "checkpoint.npz").read_bytes()
    resumed = Trainer.resume(tmp_path, digits_data(TrainConfig(epochs=2)), progress=False)
    assert len(resumed.fit()) == 2
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_resume_rejects_other_data(tmp_path):
    new_trainer(tmp_path, epochs=1, seed=0).fit()
    other = digits_data(TrainConfig(seed=1))
    with pytest.raises(CheckpointError, match="trained on other data"):
        Trainer.resume(tmp_path, other, progress=False)


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        Trainer.resume(tmp_path, digits_data(TrainConfig()), progress=False)


class BlowUpAfter:
    """Raise the learning rate absurdly once ``epoch`` epochs are done."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, record):
        if epoch == self.epoch:
            trainer.optimizer.lr = 1e12


def test_divergence_names_step_and_layer(tmp_path):
    trainer = new_trainer(tmp_path, epochs=5, optimizer="sgd", lr=0.01, callbacks=[BlowUpAfter(2)])
    with pytest.raises(NonFiniteError) as info:
        trainer.fit()
    message = str(info.value)
    assert f"step {trainer.step + 1}" in message
    assert "(epoch 3)" in message
    # A NaN loss makes every gradient NaN; the first parameter in forward order is named.
    assert "'0.weight'" in message
    assert trainer.step > 2 * len(trainer.x_train) // 32


def test_divergence_keeps_last_good_checkpoint(tmp_path):
    saved = {}

    class Keep:
        def on_epoch_end(self, trainer, epoch, record):
            saved["bytes"] = (tmp_path / "checkpoint.npz").read_bytes()

    trainer = new_trainer(
        tmp_path, epochs=5, optimizer="sgd", lr=0.01, callbacks=[Keep(), BlowUpAfter(2)]
    )
    with pytest.raises(NonFiniteError, match="last good checkpoint"):
        trainer.fit()
    assert (tmp_path / "checkpoint.npz").read_bytes() == saved["bytes"]
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["epoch"] == 2
    assert all(np.all(np.isfinite(value)) for value in state["model"].values())
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_divergence_in_first_epoch(tmp_path):
    trainer = new_trainer(tmp_path, epochs=2, optimizer="sgd", lr=1e6)
    with pytest.raises(NonFiniteError, match="no checkpoint was written"):
        trainer.fit()
    assert not (tmp_path / "checkpoint.npz").exists()


def test_divergence_emits_no_warnings(tmp_path):
    trainer = new_trainer(tmp_path, epochs=2, optimizer="sgd", lr=1e6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NonFiniteError):
            trainer.fit()
    assert [str(w.message) for w in caught] == []


def test_crash_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    class CrashSecondSave:
        def on_epoch_end(self, trainer, epoch, record):
            if epoch == 1:

                def fail(*args):
                    raise OSError("simulated crash")

                monkeypatch.setattr(os, "replace", fail)

    trainer = new_trainer(tmp_path, epochs=3, callbacks=[CrashSecondSave()])
    with pytest.raises(CheckpointError, match="simulated crash"):
        trainer.fit()
    monkeypatch.undo()
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["epoch"] == 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    resumed = Trainer.resume(tmp_path, digits_data(TrainConfig()), epochs=3, progress=False)
    assert resumed.epoch == 1


def test_non_finite_weight_at_epoch_end(tmp_path):
    class PoisonLastStep:
        def on_update_end(self, trainer, step, batch_loss):
            if step == math.ceil(len(trainer.x_train) / trainer.config.batch_size):
                trainer.model[2].weight.data[0, 0] = np.inf

    trainer = new_trainer(tmp_path, epochs=2, callbacks=[PoisonLastStep()])
    with pytest.raises(NonFiniteError, match=r"parameter '2\.weight' is not finite") as info:
        trainer.fit()
    assert "no checkpoint was written" in str(info.value)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_non_finite_weight_mid_epoch(tmp_path):
    class PoisonStepFive:
        def on_update_end(self, trainer, step, batch_loss):
            if step == 5:
                trainer.model[2].weight.data[0, 0] = np.nan

    trainer = new_trainer(tmp_path, epochs=1, callbacks=[PoisonStepFive()])
    with pytest.raises(NonFiniteError, match=r"at step 6 \(epoch 1\)"):
        trainer.fit()


def test_exploding_finite_loss_diverges(tmp_path):
    # Adam's step is about lr per weight whatever the gradient, so lr 1e6 makes the loss
    # explode to ~1e20 and beyond while staying finite.
    trainer = new_trainer(tmp_path, epochs=2, lr=1e6)
    with pytest.raises(DivergenceError) as info:
        trainer.fit()
    message = str(info.value)
    assert "training diverged at step 2 (epoch 1)" in message
    assert "exceeds 1000 times the reference loss" in message
    assert "largest gradient is that of '" in message
    assert "no checkpoint was written" in message


def test_divergence_ratio_none_disables_check(tmp_path):
    trainer = new_trainer(None, epochs=1, lr=1e6, divergence_ratio=None)
    history = trainer.fit()
    assert history[-1]["train_loss"] > 1e6


def test_divergence_error_is_non_finite_error():
    assert issubclass(DivergenceError, NonFiniteError)


def test_non_finite_test_loss_diverges(tmp_path):
    trainer = new_trainer(tmp_path, epochs=1)
    trainer.x_test = trainer.x_test.copy()
    trainer.x_test[0, 0] = np.inf
    with pytest.raises(DivergenceError, match="the test loss is"):
        trainer.fit()
    assert (tmp_path / "history.jsonl").read_text() == ""


def test_history_is_strict_json(tmp_path):
    trainer = new_trainer(tmp_path, epochs=2)
    trainer.fit()

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    for line in (tmp_path / "history.jsonl").read_text().splitlines():
        record = json.loads(line, parse_constant=reject)
        assert all(math.isfinite(value) for value in record.values())


def test_resume_keeps_reference_loss(tmp_path):
    trainer = new_trainer(tmp_path, epochs=1)
    trainer.fit()
    resumed = Trainer.resume(tmp_path, digits_data(TrainConfig()), epochs=2, progress=False)
    assert resumed.initial_loss == trainer.initial_loss
    assert resumed.initial_loss > 0


@pytest.mark.parametrize("damage", ["weight shape", "missing rng"])
def test_resume_damaged_state(tmp_path, damage):
    new_trainer(tmp_path, epochs=1).fit()
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    if damage == "weight shape":
        state["model"]["0.weight"] = np.zeros((3, 3), np.float32)
    else:
        del state["rng"]
    save_checkpoint(tmp_path / "checkpoint.npz", state)
    with pytest.raises(CheckpointError, match="incomplete or damaged"):
        Trainer.resume(tmp_path, digits_data(TrainConfig()), progress=False)
