"""Misuse of the training API: shapes, label types and settings are rejected by name."""

import logging

import numpy as np
import pytest

from propagate.errors import DataError
from propagate.nn.data import load_digits
from propagate.nn.models import MLPSpec
from propagate.nn.train import TrainConfig, Trainer, TrainingData, split_data

CONFIG = TrainConfig(epochs=1)


def small_set(n=40, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y


# --- split_data -----------------------------------------------------------------------------


def test_split_rejects_fractional_labels():
    x, y = small_set()
    with pytest.raises(DataError, match=r"y\[0\] is [01]\.5, which is not a class index"):
        split_data(x, y + 0.5, "classification", CONFIG)


def test_split_accepts_integral_float_labels():
    x, y = small_set()
    data = split_data(x, y.astype(np.float64), "classification", CONFIG)
    assert data.y_train.dtype == np.int64


def test_split_rejects_negative_labels():
    x, y = small_set()
    with pytest.raises(DataError, match="negative label -1"):
        split_data(x, y - 1, "classification", CONFIG)


def test_split_rejects_one_hot_labels():
    x, y = small_set()
    with pytest.raises(DataError, match=r"shape \(40, 2\).*argmax"):
        split_data(x, np.eye(2)[y], "classification", CONFIG)


def test_split_rejects_string_labels():
    x, y = small_set()
    with pytest.raises(DataError, match="numpy.unique"):
        split_data(x, np.where(y == 1, "cat", "dog"), "classification", CONFIG)


def test_split_rejects_single_class():
    x, y = small_set()
    with pytest.raises(DataError, match=r"1 distinct class\(es\) \[0\]"):
        split_data(x, np.zeros_like(y), "classification", CONFIG)


def test_split_rejects_2d_regression_target():
    x, _ = small_set()
    with pytest.raises(DataError, match=r"one target per sample, got shape \(40, 2\)"):
        split_data(x, np.zeros((40, 2)), "regression", CONFIG)


def test_split_rejects_nan_regression_target():
    x, _ = small_set()
    y = np.arange(40.0)
    y[3] = np.nan
    with pytest.raises(DataError, match="NaN or infinite targets"):
        split_data(x, y, "regression", CONFIG)


def test_split_rejects_1d_features():
    x, y = small_set()
    with pytest.raises(DataError, match=r"2-D array.*x.reshape\(-1, 1\)"):
        split_data(x[:, 0], y, "classification", CONFIG)


def test_split_rejects_text_features():
    x, y = small_set()
    with pytest.raises(DataError, match="must be numeric"):
        split_data(x.astype(str), y, "classification", CONFIG)


# --- TrainingData ---------------------------------------------------------------------------


def direct_data(**changes):
    x, y = small_set()
    parts = {
        "x_train": x[:30],
        "y_train": y[:30],
        "x_test": x[30:],
        "y_test": y[30:],
        "task": "classification",
    }
    parts.update(changes)
    return TrainingData(**parts)


def test_training_data_rejects_fractional_labels():
    with pytest.raises(DataError, match="not a class index"):
        direct_data(y_train=np.full(30, 0.5))


def test_training_data_rejects_label_beyond_names():
    with pytest.raises(DataError, match="class index 2 has no entry in class_names"):
        direct_data(y_test=np.full(10, 2), class_names=["no", "yes"])


def test_training_data_rejects_1d_features():
    x, _ = small_set()
    with pytest.raises(DataError, match="x_train must be a 2-D array"):
        direct_data(x_train=x[:30, 0])


def test_training_data_rejects_column_mismatch():
    x, _ = small_set()
    with pytest.raises(DataError, match="x_train has 3 feature columns but x_test has 2"):
        direct_data(x_test=x[30:, :2])


def test_training_data_rejects_length_mismatch():
    _, y = small_set()
    with pytest.raises(DataError, match="train set has 30 feature rows and 25 targets"):
        direct_data(y_train=y[:25])


def test_training_data_accepts_lists():
    x, y = small_set()
    data = direct_data(x_train=x[:30].tolist(), y_train=y[:30].tolist())
    assert data.x_train.shape == (30, 3)
    assert data.y_train.dtype == np.int64


def test_training_data_single_class():
    with pytest.raises(DataError, match="at least two classes"):
        direct_data(y_train=np.zeros(30, int), y_test=np.zeros(10, int))


# --- TrainConfig ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"test_fraction": "0.1"}, "test_fraction must be a number"),
        ({"momentum": "high"}, "momentum must be a number"),
        ({"divergence_ratio": 0.5}, "divergence_ratio must be above 1"),
        ({"divergence_ratio": "big"}, "divergence_ratio must be a number"),
    ],
)
def test_config_rejects_types(setting, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**setting).validate()


def test_config_accepts_numpy_dtype():
    assert TrainConfig(dtype=np.float32).validate().dtype == "float32"
    assert TrainConfig(dtype=np.dtype("float64")).validate().dtype == "float64"


# --- Trainer --------------------------------------------------------------------------------


def test_batch_larger_than_data_warns(caplog):
    x, y = small_set()
    config = TrainConfig(epochs=1, batch_size=1000)
    data = split_data(x, y, "classification", config)
    with caplog.at_level(logging.WARNING, logger="propagate.nn.train"):
        trainer = Trainer(MLPSpec(3, (4,), 2), data, config, progress=False)
    assert "batch size 1000 is larger than the 32 training samples" in caplog.text
    trainer.fit()
    assert trainer.step == 1


def test_evaluate_rejects_fractional_labels():
    x, y = load_digits()
    data = split_data(x, y, "classification", CONFIG)
    trainer = Trainer(MLPSpec(64, (8,), 10), data, CONFIG, progress=False)
    with pytest.raises(DataError, match="not a class index"):
        trainer.evaluate(x, y + 0.5)
    with pytest.raises(DataError, match="x has 1797 samples but y has 5"):
        trainer.evaluate(x, y[:5])
