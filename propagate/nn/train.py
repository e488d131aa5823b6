"""The training loop: mini-batch epochs, evaluation, history, checkpoints, resume, callbacks.

A :class:`Trainer` owns one run: the model (an MLP from an :class:`MLPSpec`), the optimizer,
the optional learning-rate schedule, the input standardiser and one seeded
``numpy.random.Generator`` that draws the initial weights and then every epoch's shuffle.
After each epoch it appends a record to ``DIR/history.jsonl`` and replaces
``DIR/checkpoint.npz`` atomically, so a run can be resumed and continues exactly as an
uninterrupted run with the same seed would.

Callbacks are plain objects with any of these methods, called in list order:

``on_train_begin(trainer)``
    Once, before the first step of :meth:`Trainer.fit` (also when resuming).
``on_step_end(trainer, step, batch_loss)``
    After ``loss.backward()`` and the finiteness check, before gradient clipping and
    ``optimizer.step()``. So ``p.grad`` is the unclipped gradient of the batch loss, and the
    parameters still have their values from before the update. ``step`` is the 1-based
    number of the optimizer step about to run; ``trainer.batch`` is ``(x, y)`` of the batch
    as fed to the model (standardised).
``on_update_end(trainer, step, batch_loss)``
    After ``optimizer.step()`` with the same ``step``: the parameters hold their new values,
    so comparing with values kept in ``on_step_end`` gives the update.
``on_epoch_end(trainer, epoch, record)``
    After the epoch's record was appended to the history and the checkpoint saved.
``on_train_end(trainer)``
    Once, after the last epoch, and also when training stops with an exception (before it
    propagates), so that callbacks such as the gradient monitor can flush their logs.

A callback may set ``trainer.stop_training = True`` to end training after the current epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from propagate import nn
from propagate.errors import CheckpointError, DataError, NonFiniteError
from propagate.fileio import append_jsonl, write_text_atomic
from propagate.nn.checkpoint import load_checkpoint, save_checkpoint
from propagate.nn.data import Standardizer, batch_count, iterate_batches, train_test_split
from propagate.nn.models import MLPSpec

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine")
TASKS = ("classification", "regression")
CHECKPOINT_NAME = "checkpoint.npz"
HISTORY_NAME = "history.jsonl"
CHECKPOINT_KIND = "propagate.nn.train"


class DivergenceError(NonFiniteError):
    """Training that diverged.

    A loss, gradient or weight became NaN or infinite, or a batch loss exploded past
    ``TrainConfig.divergence_ratio`` times the reference loss (see ``Trainer.fit``).
    """


@dataclass
class TrainConfig:
    """Settings of a training run.

    Attributes
    ----------
    epochs : int
        Total number of epochs (a resumed run counts the epochs already done).
    batch_size : int
        Samples per optimizer step.
    optimizer : str
        One of ``OPTIMIZERS``; ``"momentum"`` is SGD with ``momentum``.
    lr : float
        Initial learning rate.
    momentum : float
        Momentum coefficient of ``"momentum"`` (plain ``"sgd"`` uses none).
    weight_decay : float
        L2 penalty (decoupled for ``"adamw"``).
    schedule : str
        One of ``SCHEDULES``: ``"step"`` multiplies the rate by ``gamma`` every
        ``step_size`` epochs; ``"cosine"`` anneals it to 0 over ``epochs`` epochs.
    step_size, gamma
        Parameters of the ``"step"`` schedule.
    clip_norm : float or None
        Clip the global gradient norm to this value before each step.
    seed : int
        Seed of the split, the initial weights and the shuffles.
    test_fraction : float
        Share of the samples held out for testing.
    dtype : str
        ``"float32"`` or ``"float64"`` for the data and the parameters. ``validate`` turns
        a NumPy dtype such as ``np.float32`` into its name.
    divergence_ratio : float or None
        Stop with :class:`DivergenceError` when a batch loss exceeds this many times the
        first batch loss of the run (at least 1). A learning rate far too high for Adam
        makes the loss explode to such values while staying finite. None disables the
        check.
    """

    epochs: int = 25
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    clip_norm: float | None = None
    seed: int = 0
    test_fraction: float = 0.2
    dtype: str = "float32"
    divergence_ratio: float | None = 1000.0

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first invalid setting; return self otherwise."""
        for name in ("epochs", "batch_size", "step_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")

        _check_positive("lr", self.lr)
        _check_positive("gamma", self.gamma)
        if self.clip_norm is not None:
            _check_positive("clip_norm", self.clip_norm)
        if self.divergence_ratio is not None:
            _check_positive("divergence_ratio", self.divergence_ratio)
            if self.divergence_ratio <= 1:
                raise ValueError(
                    f"divergence_ratio must be above 1 (or None), got {self.divergence_ratio}"
                )
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            _check_number(name, value)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.momentum >= 1:
            raise ValueError(f"momentum must be below 1, got {self.momentum}")

        _check_number("test_fraction", self.test_fraction)
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if not isinstance(self.dtype, str):
            try:
                self.dtype = np.dtype(self.dtype).name
            except TypeError:
                raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}") from None
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        return self

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild a config from ``dataclasses.asdict`` output, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def _check_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")


def _check_positive(name: str, value) -> None:
    _check_number(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@dataclass
class TrainingData:
    """A train/test split ready for a :class:`Trainer` (not yet standardised).

    Attributes
    ----------
    x_train, x_test : ndarray, shape (n, n_features)
    y_train, y_test : ndarray, shape (n,)
        Class indices (int64) or regression targets.
    task : {"classification", "regression"}
    class_names : list of str or None
        Label of each class index, for classification.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    class_names: list[str] | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise DataError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        self.x_train = _feature_array(self.x_train, "x_train")
        self.x_test = _feature_array(self.x_test, "x_test")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(
                f"x_train has {self.x_train.shape[1]} feature columns but x_test has "
                f"{self.x_test.shape[1]}; both sets need the same columns"
            )
        if self.task == "classification":
            self.y_train = _class_indices(self.y_train, "y_train")
            self.y_test = _class_indices(self.y_test, "y_test")
        else:
            self.y_train = _regression_targets(self.y_train, "y_train")
            self.y_test = _regression_targets(self.y_test, "y_test")
        for x, y, name in (
            (self.x_train, self.y_train, "train"),
            (self.x_test, self.y_test, "test"),
        ):
            if len(x) != len(y) or len(x) == 0:
                raise DataError(
                    f"the {name} set has {len(x)} feature rows and {len(y)} targets; "
                    "it needs one target per row and at least one row"
                )
        if self.task == "classification":
            self._check_labels()

    def _check_labels(self) -> None:
        largest = int(max(self.y_train.max(), self.y_test.max()))
        if self.class_names is not None and largest >= len(self.class_names):
            raise DataError(
                f"class index {largest} has no entry in class_names, which names "
                f"{len(self.class_names)} classes (indices 0..{len(self.class_names) - 1})"
            )
        if self.n_outputs < 2:
            raise DataError("every target is class 0; classification needs at least two classes")

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return self.x_train.shape[1]

    @property
    def n_outputs(self) -> int:
        """Model outputs needed: one per class, or 1 for regression."""
        if self.task == "regression":
            return 1
        if self.class_names is not None:
            return len(self.class_names)
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def fingerprint(self) -> str:
        """Return a SHA-256 digest of the arrays, to tell whether a resume uses the same data."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()


def split_data(
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    config: TrainConfig,
    class_names: list[str] | None = None,
) -> TrainingData:
    """Split ``x, y`` with the config's seed and test fraction and cast to its dtype.

    Classification splits are stratified, so each class keeps its share in both sets.
    """
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    x = _feature_array(x, "x")
    if task == "classification":
        y = _class_indices(y, "y")
        classes = np.unique(y).tolist()
        if len(classes) < 2:
            raise DataError(
                f"y contains {len(classes)} distinct class(es) {classes}; "
                "classification needs at least two"
            )
    else:
        y = _regression_targets(y, "y").astype(config.dtype, copy=False)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype(config.dtype, copy=False),
        y,
        test_fraction=config.test_fraction,
        seed=config.seed,
        stratify=task == "classification",
    )
    return TrainingData(x_train, y_train, x_test, y_test, task, class_names)


def _feature_array(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        hint = "; reshape a single feature with x.reshape(-1, 1)" if x.ndim == 1 else ""
        raise DataError(
            f"{name} must be a 2-D array (samples, features), got shape {x.shape}{hint}"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _class_indices(y, name: str) -> np.ndarray:
    """Return ``y`` as int64 class indices, rejecting anything that is not a label 0..k-1."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array of class indices, got shape {y.shape}; "
            "for one-hot rows pass y.argmax(axis=1)"
        )
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise DataError(
                f"{name}[{bad[0]}] is {float(y[bad[0]])!r}, which is not a class index; "
                "classification needs integer labels 0..k-1 (use the regression task for "
                "a continuous target)"
            )
    elif y.dtype.kind not in "biu":
        raise DataError(
            f"{name} has dtype {y.dtype}; classification needs integer labels 0..k-1, "
            "such as the indices from numpy.unique(labels, return_inverse=True)"
        )
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DataError(
            f"{name} contains the negative label {y.min()}; class indices must be 0..k-1"
        )
    return y


def _regression_targets(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(
            f"{name} must be a 1-D array with one target per sample, got shape {y.shape}; "
            "pass a single target column (y.ravel() for shape (n, 1))"
        )
    if y.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric for regression, got dtype {y.dtype}")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{name} contains NaN or infinite targets; remove those samples")
    return y


def _as_array(value):
    return value.data if isinstance(value, nn.Tensor) else value


def _plain_state(state):
    """Return ``state`` with every Tensor replaced by its array (for saving)."""
    if isinstance(state, dict):
        return {key: _plain_state(item) for key, item in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_plain_state(item) for item in state)
    return _as_array(state)


def make_optimizer(config: TrainConfig, parameters):
    """Create the optimizer that ``config.optimizer`` names."""
    parameters = list(parameters)
    name = config.optimizer
    if name == "sgd":
        return nn.optim.SGD(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if name == "momentum":
        return nn.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if name == "adam":
        return nn.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if name == "adamw":
        return nn.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if name == "rmsprop":
        return nn.optim.RMSprop(parameters, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(config: TrainConfig, optimizer):
    """Create the learning-rate schedule that ``config.schedule`` names, or None."""
    if config.schedule == "step":
        return nn.optim.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.schedule == "cosine":
        return nn.optim.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


class Trainer:
    """Train an MLP on a :class:`TrainingData` split.

    Parameters
    ----------
    spec : MLPSpec
        Network shape; its ``n_outputs`` must match the data.
    data : TrainingData
    config : TrainConfig
    out_dir : path-like, optional
        Folder for ``history.jsonl`` and ``checkpoint.npz``; nothing is written when None.
    callbacks : sequence, optional
        Objects with the optional methods listed in the module docstring.
    progress : bool
        Show a tqdm bar over the steps on stderr; it is off anyway when stderr is not a
        terminal.
    metadata : dict, optional
        JSON-ready facts to keep in the checkpoint, such as where the data came from.

    Attributes
    ----------
    model, optimizer, scheduler
        The network, its optimizer and the schedule (None without one).
    epoch : int
        Epochs completed. While an epoch runs, its 1-based number is ``current_epoch``.
    step : int
        Optimizer steps completed.
    batch : tuple of ndarray or None
        ``(x, y)`` of the current batch, standardised as fed to the model.
    history : list of dict
        One record per completed epoch, as written to ``history.jsonl``, with the keys
        ``epoch``, ``step`` (steps completed), ``train_loss``, ``train_accuracy`` (or
        ``train_rmse``), ``test_loss``, ``test_accuracy`` (or ``test_rmse``), ``lr`` (the rate
        used during the epoch) and ``seconds`` (training and test evaluation, not saving).
        The train figures are averages over the epoch's batches as the weights changed.
    stop_training : bool
        Set by a callback to stop after the current epoch.
    """

    def __init__(
        self,
        spec: MLPSpec,
        data: TrainingData,
        config: TrainConfig,
        out_dir: str | os.PathLike | None = None,
        callbacks=(),
        progress: bool = True,
        metadata: dict | None = None,
    ):
        self.config = config.validate()
        if data.task not in TASKS:
            raise DataError(f"task must be one of {', '.join(TASKS)}, got {data.task!r}")
        if spec.n_inputs != data.n_features:
            raise DataError(
                f"the model takes {spec.n_inputs} inputs but the data has "
                f"{data.n_features} feature columns"
            )
        if spec.n_outputs != data.n_outputs:
            raise DataError(
                f"the model has {spec.n_outputs} outputs but the {data.task} data needs "
                f"{data.n_outputs}"
            )
        self.spec = spec
        self.data = data
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks = list(callbacks)
        self.progress = progress
        self.metadata = dict(metadata or {})
        self.dtype = np.dtype(config.dtype)

        self.rng = np.random.default_rng(config.seed)
        self.model = spec.build(rng=self.rng, dtype=self.dtype)
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.scheduler = make_scheduler(config, self.optimizer)

        self.x_scaler = Standardizer().fit(data.x_train)
        self.x_train = self.x_scaler.transform(data.x_train.astype(self.dtype, copy=False))
        self.x_test = self.x_scaler.transform(data.x_test.astype(self.dtype, copy=False))
        self.y_scaler = None
        self.y_train = data.y_train
        self.y_test = data.y_test
        if data.task == "regression":
            # Regression targets are standardised too, so that one learning rate suits any
            # unit; RMSE is reported back in the target's own unit.
            self.y_scaler = Standardizer().fit(data.y_train.reshape(-1, 1))
            self.y_train = self._scale_y(data.y_train)
            self.y_test = self._scale_y(data.y_test)

        if config.batch_size > len(self.x_train):
            logger.warning(
                "batch size %d is larger than the %d training samples, so every epoch is a "
                "single full-batch step",
                config.batch_size,
                len(self.x_train),
            )

        self.epoch = 0
        self.step = 0
        self.batch = None
        self.history: list[dict] = []
        self.stop_training = False
        self.initial_loss: float | None = None

    # --- paths and properties ---------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path | None:
        """``out_dir/checkpoint.npz``, or None without an output folder."""
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    @property
    def history_path(self) -> Path | None:
        """``out_dir/history.jsonl``, or None without an output folder."""
        return self.out_dir / HISTORY_NAME if self.out_dir is not None else None

    @property
    def lr(self) -> float:
        """Learning rate the optimizer uses for its next step."""
        return float(self.optimizer.lr)

    @property
    def current_epoch(self) -> int:
        """1-based number of the epoch that is running, or of the next one between epochs."""
        return self.epoch + 1

    @property
    def metric_name(self) -> str:
        """``"accuracy"`` for classification, ``"rmse"`` for regression."""
        return "accuracy" if self.data.task == "classification" else "rmse"

    def _scale_y(self, y: np.ndarray) -> np.ndarray:
        z = self.y_scaler.transform(np.asarray(y, dtype=self.dtype).reshape(-1, 1))
        return z.astype(self.dtype, copy=False)

    # --- loss and metrics -------------------------------------------------------------------

    def _loss(self, output, y: np.ndarray):
        if self.data.task == "classification":
            return nn.cross_entropy(output, y)
        return nn.mse_loss(output, nn.Tensor(y))

    def _metric_sums(self, output: np.ndarray, y: np.ndarray) -> float:
        """Return the correct count (classification) or the summed squared error."""
        if self.data.task == "classification":
            return float(np.sum(np.argmax(output, axis=1) == y))
        return float(np.sum((output.astype(np.float64) - y) ** 2))

    def _metric(self, total: float, count: int) -> float:
        if self.data.task == "classification":
            return total / count
        # The squared error was summed in standardised units; scale back to target units.
        return math.sqrt(total / count) * float(self.y_scaler.scale[0])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Return ``{"loss": ..., metric_name: ...}`` on raw (unstandardised) data.

        The model runs in eval mode without recording a graph. The loss is in the units the
        model is trained in (standardised targets for regression); the RMSE is in target units.
        """
        x = self.x_scaler.transform(np.asarray(x, dtype=self.dtype))
        if self.data.task == "classification":
            y = _class_indices(y, "y")
        else:
            y = self._scale_y(_regression_targets(y, "y"))
        if len(y) != len(x):
            raise DataError(f"x has {len(x)} samples but y has {len(y)}; give one target per row")
        return self._evaluate_scaled(x, y)

    def _evaluate_scaled(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        self.model.eval()
        with nn.no_grad():
            output = self.model(nn.Tensor(x))
            loss = self._loss(output, y).item()
        self.model.train()
        metric = self._metric(self._metric_sums(output.data, y), len(y))
        return {"loss": loss, self.metric_name: metric}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return class indices (classification) or targets in their unit (regression)."""
        x = self.x_scaler.transform(np.asarray(x, dtype=self.dtype))
        self.model.eval()
        with nn.no_grad():
            output = self.model(nn.Tensor(x)).data
        self.model.train()
        if self.data.task == "classification":
            return np.argmax(output, axis=1)
        return self.y_scaler.inverse_transform(output)[:, 0]

    # --- training ---------------------------------------------------------------------------

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)

    def _checkpoint_note(self) -> str:
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            return f"the last good checkpoint {self.checkpoint_path} is kept"
        return "no checkpoint was written"

    def _diverged(self, step: int, loss: float) -> NonFiniteError | None:
        """Return the error for a non-finite loss or gradient at ``step``, else None."""
        culprit = None
        for name, parameter in self.model.named_parameters():
            grad = parameter.grad
            if grad is not None and not np.all(np.isfinite(grad)):
                culprit = name
                break
        ratio = self.config.divergence_ratio
        if culprit is not None:
            cause = f"the gradient of {culprit!r} is not finite (batch loss {loss:.6g})"
        elif not math.isfinite(loss):
            cause = f"the batch loss is {loss} while every gradient is finite"
        elif (
            ratio is not None
            and self.initial_loss is not None
            and loss > ratio * (reference := max(self.initial_loss, 1.0))
        ):
            name, norm = self._largest_gradient()
            cause = (
                f"the batch loss {loss:.6g} exceeds {ratio:g} times the reference loss "
                f"{reference:.6g}, and the largest gradient is that of {name!r} "
                f"(norm {norm:.3g})"
            )
        else:
            return None
        return DivergenceError(
            f"training diverged at step {step} (epoch {self.current_epoch}): {cause}; "
            f"{self._checkpoint_note()}; lower the learning rate or set a clip norm"
        )

    def _largest_gradient(self) -> tuple[str, float]:
        norms = {
            name: float(np.linalg.norm(parameter.grad))
            for name, parameter in self.model.named_parameters()
            if parameter.grad is not None
        }
        name = max(norms, key=norms.get)
        return name, norms[name]

    def _check_parameters(self) -> None:
        for name, parameter in self.model.named_parameters():
            if not np.all(np.isfinite(_as_array(parameter))):
                raise DivergenceError(
                    f"training diverged in epoch {self.current_epoch} at step {self.step}: "
                    f"parameter {name!r} is not finite after the update; "
                    f"{self._checkpoint_note()}; lower the learning rate or set a clip norm"
                )

    def _show_progress(self) -> bool:
        return self.progress and sys.stderr.isatty()

    def fit(self) -> list[dict]:
        """Train until ``config.epochs`` epochs are complete and return the history.

        Raises
        ------
        DivergenceError
            When a batch loss, a gradient, a weight or the test loss is NaN or infinite, or
            a batch loss exceeds ``config.divergence_ratio`` times the reference loss: the
            first batch loss of the run, or 1 if that is smaller. Cross-entropy and the MSE
            of standardised targets both start near 1 or above, so 1 keeps a lucky small
            first loss from making the check oversensitive. The message
            names the step and the parameter: the first one, in forward order, whose
            gradient is not finite, or the one with the largest gradient norm. The checkpoint
            of the last completed epoch stays as it was.
        """
        config = self.config
        steps_per_epoch = batch_count(len(self.x_train), config.batch_size)
        parameters = list(self.model.parameters())
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # A fresh run starts an empty history; a resumed run rewrites the records that
            # its checkpoint holds, dropping any written after that checkpoint.
            write_text_atomic(self.history_path, "".join(_json_line(r) for r in self.history))

        self.stop_training = False
        self._call("on_train_begin")
        bar = tqdm(
            total=config.epochs * steps_per_epoch,
            initial=self.step,
            disable=not self._show_progress(),
            unit="step",
            **_bar_size(),
        )
        try:
            # Each step checks the loss and every gradient and raises NonFiniteError naming
            # the step and parameter, so NumPy's overflow warnings would only repeat that.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                while self.epoch < config.epochs and not self.stop_training:
                    self._run_epoch(parameters, bar)
        finally:
            bar.close()
            self.batch = None
            self._call("on_train_end")
        return self.history

    def _run_epoch(self, parameters, bar) -> dict:
        config = self.config
        epoch = self.current_epoch
        bar.set_description(f"epoch {epoch}/{config.epochs}")
        start = time.perf_counter()
        lr = self.lr
        loss_sum = 0.0
        metric_sum = 0.0
        seen = 0

        self.model.train()
        for x_batch, y_batch in iterate_batches(
            self.x_train, self.y_train, config.batch_size, self.rng
        ):
            step = self.step + 1
            self.batch = (x_batch, y_batch)
            self.optimizer.zero_grad()
            output = self.model(nn.Tensor(x_batch))
            loss = self._loss(output, y_batch)
            loss.backward()
            batch_loss = loss.item()
            error = self._diverged(step, batch_loss)
            if error is not None:
                raise error
            if self.initial_loss is None:
                self.initial_loss = batch_loss

            self._call("on_step_end", step, batch_loss)
            if config.clip_norm is not None:
                nn.clip_grad_norm_(parameters, config.clip_norm)
            self.optimizer.step()
            self.step = step
            self._call("on_update_end", step, batch_loss)

            loss_sum += batch_loss * len(x_batch)
            metric_sum += self._metric_sums(output.data, y_batch)
            seen += len(x_batch)
            bar.update(1)
            bar.set_postfix(
                loss=f"{loss_sum / seen:.4f}",
                **{self.metric_name: f"{self._metric(metric_sum, seen):.4f}"},
                refresh=False,
            )

        self._check_parameters()
        test = self._evaluate_scaled(self.x_test, self.y_test)
        if not all(math.isfinite(value) for value in test.values()):
            raise DivergenceError(
                f"training diverged in epoch {epoch} at step {self.step}: the test loss is "
                f"{test['loss']} although every batch loss and weight was finite; "
                f"{self._checkpoint_note()}; lower the learning rate or set a clip norm"
            )
        record = {
            "epoch": epoch,
            "step": self.step,
            "train_loss": loss_sum / seen,
            f"train_{self.metric_name}": self._metric(metric_sum, seen),
            "test_loss": test["loss"],
            f"test_{self.metric_name}": test[self.metric_name],
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        if self.scheduler is not None:
            self.scheduler.step()
        self.epoch = epoch
        self.history.append(record)
        if self.out_dir is not None:
            self.save()
            append_jsonl(self.history_path, [record])
        logger.info(
            "epoch %d: train loss %.4f, test %s %.4f",
            epoch,
            record["train_loss"],
            self.metric_name,
            record[f"test_{self.metric_name}"],
        )
        self._call("on_epoch_end", epoch, record)
        return record

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Return everything needed to continue this run exactly."""
        return {
            "kind": CHECKPOINT_KIND,
            "spec": self.spec.to_dict(),
            "config": asdict(self.config),
            "task": self.data.task,
            "class_names": self.data.class_names,
            "metadata": self.metadata,
            "data_fingerprint": self.data.fingerprint(),
            "epoch": self.epoch,
            "step": self.step,
            "initial_loss": self.initial_loss,
            "history": list(self.history),
            "rng": self.rng.bit_generator.state,
            "model": _plain_state(self.model.state_dict()),
            "optimizer": _plain_state(self.optimizer.state_dict()),
            "scheduler": (
                _plain_state(self.scheduler.state_dict()) if self.scheduler is not None else None
            ),
            "x_scaler": self.x_scaler.state_dict(),
            "y_scaler": self.y_scaler.state_dict() if self.y_scaler is not None else None,
        }

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the checkpoint atomically to ``path`` (default ``out_dir/checkpoint.npz``)."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise CheckpointError("no checkpoint path: give one or create the Trainer with out_dir")
        return save_checkpoint(path, self.state_dict())

    def load_state_dict(self, state: dict) -> None:
        """Restore weights, optimizer, schedule, standardisers, counters and RNG state."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.x_scaler.load_state_dict(state["x_scaler"])
        if self.y_scaler is not None and state.get("y_scaler") is not None:
            self.y_scaler.load_state_dict(state["y_scaler"])
        self.rng.bit_generator.state = state["rng"]
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        self.initial_loss = state.get("initial_loss")
        self.history = [dict(record) for record in state["history"]]

    @classmethod
    def resume(
        cls,
        out_dir: str | os.PathLike,
        data: TrainingData,
        epochs: int | None = None,
        callbacks=(),
        progress: bool = True,
    ) -> Trainer:
        """Rebuild the trainer saved in ``out_dir/checkpoint.npz`` to continue training.

        Parameters
        ----------
        out_dir : path-like
            Folder of the earlier run.
        data : TrainingData
            The same split the run was trained on; a different one raises.
        epochs : int, optional
            New total number of epochs; by default the saved one. A cosine schedule keeps
            the period it was created with.

        Raises
        ------
        CheckpointError
            When there is no checkpoint, it is not a training checkpoint, or ``data`` differs
            from the data it was trained on.
        """
        path = Path(out_dir) / CHECKPOINT_NAME
        state = load_checkpoint(path)
        if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
            raise CheckpointError(f"{path} is not a training checkpoint of propagate.nn.train")
        if data.fingerprint() != state.get("data_fingerprint"):
            raise CheckpointError(
                f"{path} was trained on other data (or another split, seed or dtype); "
                "resume with the same data and settings, or train afresh in another folder"
            )
        damaged = (KeyError, TypeError, ValueError, IndexError)
        try:
            config = TrainConfig.from_dict(state["config"])
            spec = MLPSpec.from_dict(state["spec"])
        except damaged as exc:
            raise _damaged(path, exc) from None
        if epochs is not None:
            config.epochs = epochs
        trainer = cls(
            spec,
            data,
            config,
            out_dir=out_dir,
            callbacks=callbacks,
            progress=progress,
            metadata=state.get("metadata"),
        )
        if config.schedule == "cosine" and trainer.scheduler is not None:
            # NOTE: the period T_max stays the one saved, so a longer run ends at lr 0 early.
            trainer.scheduler = make_scheduler(
                TrainConfig.from_dict(state["config"]), trainer.optimizer
            )
        try:
            trainer.load_state_dict(state)
        except damaged as exc:
            raise _damaged(path, exc) from None
        logger.info("resumed %s at epoch %d, step %d", path, trainer.epoch, trainer.step)
        return trainer


def _bar_size() -> dict:
    """Return tqdm's size options: a fixed 80x24 when stderr's terminal reports 0x0.

    A pseudo-terminal whose size was never set (``script`` run without a terminal, for
    one) reports 0 columns and 0 rows, and tqdm then prints nothing. Otherwise the bar
    follows the terminal's width.
    """
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return {"dynamic_ncols": True}
    if size.columns == 0 or size.lines == 0:
        return {"ncols": 80, "nrows": 24}
    return {"dynamic_ncols": True}


def _damaged(path: Path, exc: Exception) -> CheckpointError:
    # The file is a valid archive, so an entry that is missing or has the wrong shape means
    # it was edited or written by an incompatible version.
    return CheckpointError(
        f"{path} is incomplete or damaged ({type(exc).__name__}: {exc}); "
        "train afresh in another folder"
    )


def _json_line(record: dict) -> str:
    # Records are checked to be finite, and strict JSON has no NaN.
    return json.dumps(record, allow_nan=False) + "\n"
