"""Gradient-flow experiments on the digits data: deep MLP variants and an Elman RNN.

Five runs, each monitored at every step and diagnosed:

``sigmoid``
    ``depth`` hidden layers of ``width`` sigmoid units, weights drawn from N(0, 1) and
    biases 0. Each layer multiplies δ by Wᵀ and by σ'(z) ≤ 1/4, and with unit-variance
    weights the pre-activations are large, so σ' is small and δ shrinks layer by layer:
    vanishing gradients.
``relu``
    The same shape with ReLU units and He initialisation (N(0, 2/fan_in)), which keeps
    the variance of activations and of δ about constant across layers.
``residual``
    A first ReLU layer, then ``depth − 1`` residual blocks x + ReLU(LayerNorm(W x + b))
    with He initialisation: the identity path carries δ back unchanged.
``rnn``
    An Elman RNN that reads each image as a sequence of 64 pixels, trained with plain
    SGD. Its recurrent weights come from N(0, gain²/hidden) with gain 3, so its dynamics
    are chaotic and the product of Jacobians over 64 time steps explodes.
``rnn_clipped``
    The same RNN, same seed, with the gradient norm clipped before each SGD step.
``rnn_stable``
    The same RNN with recurrent gain 1 and clipping: the reference without the cause.

Without clipping, the first SGD step of the chaotic RNN changes its weights by about 1e5
times their norm. Every recurrent unit then saturates and the recurrent gradient becomes
exactly 0, so only the readout learns. Clipping keeps each step near 1e-2 of the weight norm and
the recurrent layer alive. It bounds the damage but not the cause: the raw gradient, which
the monitor records before clipping, still explodes, and the chaotic network learns
slowly; recurrent weights with gain at most 1 remove the cause.

The MLPs train with plain SGD so that a layer's update is proportional to its gradient and
the update-to-weight ratios show the gradient flow directly.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from propagate import nn
from propagate.errors import DataError
from propagate.nn.data import Standardizer, iterate_batches, load_digits, train_test_split
from propagate.nn.diagnosis import Finding, diagnose
from propagate.nn.monitor import LOG_NAME, Monitor, StepRecord, encode_nonfinite

logger = logging.getLogger(__name__)

MLP_VARIANTS = ("sigmoid", "relu", "residual")
RNN_VARIANTS = ("rnn", "rnn_clipped", "rnn_stable")

# Upper bound on depth × width², which catches a mistyped depth or width before the model
# is built: 5e7 float32 weights take 200 MB, and training keeps about four arrays that size.
MAX_MLP_WEIGHTS = 50_000_000

# Recurrent gain of the reference RNN: spectral radius about 1, at the edge of chaos.
STABLE_GAIN = 1.0
VARIANTS = MLP_VARIANTS + RNN_VARIANTS

DESCRIPTIONS = {
    "sigmoid": "sigmoid, N(0, 1) weights",
    "relu": "ReLU, He initialisation",
    "residual": "residual blocks with LayerNorm, ReLU, He initialisation",
    "rnn": "Elman RNN over 64 pixels, recurrent gain {gain:g}, no clipping",
    "rnn_clipped": "Elman RNN over 64 pixels, recurrent gain {gain:g}, gradient norm clipped "
    "at {clip_norm:g}",
    "rnn_stable": "Elman RNN over 64 pixels, recurrent gain {stable_gain:g}, gradient norm "
    "clipped at {clip_norm:g}",
}


@dataclass(frozen=True)
class ExperimentConfig:
    """Settings of the gradient-flow experiments.

    Attributes
    ----------
    depth : int
        Number of hidden layers of the MLPs.
    width : int
        Units per hidden layer of the MLPs.
    steps : int
        SGD steps per run; every step is monitored.
    batch_size : int
        Examples per step.
    lr : float
        SGD learning rate of the MLPs.
    seed : int
        Seed of the data split, the initial weights and the batch order.
    rnn_hidden : int
        Hidden units of the RNN.
    rnn_gain : float
        Recurrent weights are drawn from N(0, rnn_gain² / rnn_hidden); above 1 the
        untrained network is chaotic and its gradients through time explode.
    rnn_lr : float
        SGD learning rate of the RNNs.
    clip_norm : float
        Maximum gradient norm of the clipped RNN run.
    dtype : str
        ``"float32"`` or ``"float64"``.
    """

    depth: int = 10
    width: int = 32
    steps: int = 150
    batch_size: int = 64
    lr: float = 0.1
    seed: int = 0
    rnn_hidden: int = 32
    rnn_gain: float = 3.0
    rnn_lr: float = 0.1
    clip_norm: float = 1.0
    dtype: str = "float32"

    def validate(self) -> ExperimentConfig:
        """Return the config, or raise ValueError naming the first invalid setting."""
        for name in ("depth", "width", "steps", "batch_size", "rnn_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
        if self.depth < 2:
            raise ValueError(f"depth must be at least 2 hidden layers, not {self.depth}")
        for name in ("lr", "rnn_gain", "rnn_lr", "clip_norm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', not {self.dtype!r}")
        weights = self.depth * self.width * self.width
        if weights > MAX_MLP_WEIGHTS:
            raise ValueError(
                f"depth {self.depth} and width {self.width} give about {weights:.2g} weights, "
                f"more than the {MAX_MLP_WEIGHTS:.0e} these experiments allow; choose a smaller "
                f"depth or width"
            )
        return self


@dataclass
class VariantResult:
    """Outcome of one monitored run.

    Attributes
    ----------
    name, description : str
        Variant name (see :data:`VARIANTS`) and what it is.
    layers : list of str
        Monitored layers in forward order.
    grad_norms, delta_norms : list of float
        Median over steps of each layer's weight-gradient norm and δ norm.
    initial_grad_norms : list of float
        Each layer's weight-gradient norm at the first step.
    initial_loss, final_loss : float
        Batch loss at the first and the last recorded step.
    test_accuracy : float
        Accuracy on the held-out digits after training.
    max_grad_norm, max_update_ratio : float
        Largest total gradient norm and largest update-to-weight ratio of any layer.
    final_saturated_fraction : float
        Largest saturated fraction of any sigmoid or tanh layer at the last step (NaN
        without such layers).
    diverged : bool
        Whether the loss became NaN or infinite (the run stops at that step).
    findings : list of Finding
        Diagnosis of the run.
    records : list of StepRecord
        Every monitor record.
    log_path : str or None
        The run's ``monitor.jsonl``, when written.
    """

    name: str
    description: str
    layers: list[str]
    grad_norms: list[float]
    delta_norms: list[float]
    initial_grad_norms: list[float]
    initial_loss: float
    final_loss: float
    test_accuracy: float
    max_grad_norm: float
    max_update_ratio: float
    final_saturated_fraction: float
    diverged: bool
    findings: list[Finding] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list, repr=False)
    log_path: str | None = None

    @property
    def kinds(self) -> list[str]:
        """Kinds of the findings, in report order."""
        return [finding.kind for finding in self.findings]

    def to_dict(self) -> dict:
        """Return the result without its records, as JSON-ready types."""
        data = {
            key: value for key, value in asdict(self).items() if key not in ("records", "findings")
        }
        data["findings"] = [finding.to_dict() for finding in self.findings]
        return encode_nonfinite(data)


# --- data -------------------------------------------------------------------------------------


def load_experiment_data(seed: int = 0, dtype=np.float32):
    """Load the bundled digits, split 80/20 stratified, standardised on the training set.

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
    """
    x, y = load_digits(dtype=dtype)
    x_train, x_test, y_train, y_test = train_test_split(x, y, 0.2, seed=seed, stratify=True)
    scaler = Standardizer().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_test), y_test


def as_pixel_sequences(x: np.ndarray) -> np.ndarray:
    """Turn images of shape (n, 64) into sequences of shape (64, n, 1), one pixel per step."""
    return np.ascontiguousarray(x.T[:, :, None])


# --- models -----------------------------------------------------------------------------------


def build_mlp(
    variant: str,
    n_inputs: int,
    n_outputs: int,
    depth: int,
    width: int,
    rng: np.random.Generator,
    dtype=np.float32,
) -> nn.Module:
    """Build one of the MLP variants ``"sigmoid"``, ``"relu"`` or ``"residual"``.

    Every variant has ``depth`` hidden layers of ``width`` units and ``depth + 1`` Linear
    layers in all; biases start at 0.
    """
    if variant not in MLP_VARIANTS:
        raise ValueError(f"unknown MLP variant {variant!r}; use one of {', '.join(MLP_VARIANTS)}")

    def linear(fan_in: int, fan_out: int) -> nn.Linear:
        layer = nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype)
        if variant == "sigmoid":
            nn.init.normal_(layer.weight, 0.0, 1.0, rng=rng)
        else:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", rng=rng)
        nn.init.zeros_(layer.bias)
        return layer

    activation = nn.Sigmoid if variant == "sigmoid" else nn.ReLU
    modules = [linear(n_inputs, width), activation()]
    for _ in range(depth - 1):
        if variant == "residual":
            block = nn.Sequential(linear(width, width), nn.LayerNorm(width, dtype=dtype), nn.ReLU())
            modules.append(nn.Residual(block))
        else:
            modules.extend([linear(width, width), activation()])

    head = nn.Linear(width, n_outputs, rng=rng, dtype=dtype)
    if variant != "sigmoid":
        nn.init.xavier_normal_(head.weight, rng=rng)
    nn.init.zeros_(head.bias)
    modules.append(head)
    return nn.Sequential(*modules)


class SequenceClassifier(nn.Module):
    """An Elman RNN over a sequence followed by a Linear layer on its last hidden state.

    Parameters
    ----------
    input_size, hidden_size, n_outputs : int
        Features per time step, hidden units and classes.
    gain : float
        Recurrent weights are drawn from N(0, gain² / hidden_size). The spectral radius of
        such a matrix is about ``gain``, so a gain above 1 makes the tanh dynamics chaotic.
    rng : numpy.random.Generator
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        n_outputs: int,
        gain: float,
        rng: np.random.Generator,
        dtype=np.float32,
    ):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, rng=rng, dtype=dtype)
        nn.init.normal_(self.rnn.weight_hh_l0, 0.0, gain / math.sqrt(hidden_size), rng=rng)
        self.head = nn.Linear(hidden_size, n_outputs, rng=rng, dtype=dtype)

    def forward(self, x):
        _, last = self.rnn(x)
        return self.head(last[0])


# --- training ---------------------------------------------------------------------------------


def _batches(x, y, batch_size, rng, steps):
    """Yield ``steps`` mini-batches, reshuffling each time the data is used up."""
    produced = 0
    while True:
        for batch in iterate_batches(x, y, batch_size, rng, drop_last=True):
            yield batch
            produced += 1
            if produced == steps:
                return


def train_monitored(
    model,
    x,
    y,
    steps: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    monitor: Monitor,
    clip_norm: float | None = None,
    sequence: bool = False,
    progress: bool = False,
) -> bool:
    """Train ``model`` with plain SGD for ``steps`` steps, recording every step.

    With ``sequence`` true, ``x`` contains images that are fed as pixel sequences. The run
    stops early after recording the first step whose loss is NaN or infinite.

    Returns
    -------
    bool
        True when training stopped on a non-finite loss.
    """
    if len(x) < batch_size:
        raise DataError(
            f"batch size {batch_size} is larger than the {len(x)} training examples; "
            f"choose a smaller batch size"
        )
    optimizer = nn.optim.SGD(model.parameters(), lr=lr)
    parameters = list(model.parameters())
    monitor.attach(model)
    diverged = False
    bar = tqdm(total=steps, disable=not progress, unit="step", leave=False)

    # Exploding runs overflow on purpose; the monitor records the non-finite values.
    # The monitor is closed on every exit, Ctrl-C included, so its log keeps the steps run.
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            for step, (x_batch, y_batch) in enumerate(
                _batches(x, y, batch_size, rng, steps), 1
            ):
                inputs = as_pixel_sequences(x_batch) if sequence else x_batch
                optimizer.zero_grad()
                loss = nn.cross_entropy(model(nn.Tensor(inputs)), y_batch)
                loss.backward()
                monitor.record(step, loss, lr=optimizer.lr)
                if clip_norm is not None:
                    nn.clip_grad_norm_(parameters, clip_norm)
                optimizer.step()
                monitor.after_update()
                bar.update(1)
                if not math.isfinite(loss.item()):
                    logger.info("loss is not finite at step %d; stopping this run", step)
                    diverged = True
                    break
    finally:
        bar.close()
        monitor.close()
    return diverged


def _accuracy(model, x, y, sequence: bool) -> float:
    with nn.no_grad(), np.errstate(over="ignore", invalid="ignore"):
        inputs = as_pixel_sequences(x) if sequence else x
        logits = model(nn.Tensor(inputs)).data
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _median_by_layer(records: list[StepRecord], attribute: str, layers: list[str]) -> list:
    values: dict[str, list[float]] = {name: [] for name in layers}
    for record in records:
        for layer in record.layers:
            value = getattr(layer, attribute)
            if value is not None and math.isfinite(value):
                values[layer.name].append(value)
    return [float(np.median(values[name])) if values[name] else math.nan for name in layers]


def run_variant(
    name: str,
    data,
    config: ExperimentConfig,
    out_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> VariantResult:
    """Build, train, monitor and diagnose one variant.

    Parameters
    ----------
    name : str
        One of :data:`VARIANTS`.
    data : tuple
        ``(x_train, y_train, x_test, y_test)`` from :func:`load_experiment_data`.
    out_dir : path, optional
        Folder for the run's ``monitor.jsonl``.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; use one of {', '.join(VARIANTS)}")
    config.validate()
    x_train, y_train, x_test, y_test = data
    dtype = np.dtype(config.dtype)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    rng = np.random.default_rng(config.seed)
    sequence = name in RNN_VARIANTS

    if sequence:
        gain = STABLE_GAIN if name == "rnn_stable" else config.rnn_gain
        model = SequenceClassifier(1, config.rnn_hidden, n_classes, gain, rng, dtype)
        lr, clip_norm = config.rnn_lr, (None if name == "rnn" else config.clip_norm)
    else:
        model = build_mlp(name, x_train.shape[1], n_classes, config.depth, config.width, rng, dtype)
        lr, clip_norm = config.lr, None

    log_path = Path(out_dir) / LOG_NAME if out_dir is not None else None
    if log_path is not None and log_path.exists():
        log_path.unlink()
    monitor = Monitor(every=1, log_path=log_path, flush_every=50)
    diverged = train_monitored(
        model,
        x_train.astype(dtype, copy=False),
        y_train,
        config.steps,
        config.batch_size,
        lr,
        rng,
        monitor,
        clip_norm=clip_norm,
        sequence=sequence,
        progress=progress,
    )

    records = monitor.records
    layers = records[0].layer_names()
    update_ratios = [
        layer.update_ratio
        for r in records
        for layer in r.layers
        if layer.update_ratio is not None and math.isfinite(layer.update_ratio)
    ]
    grad_norms = [r.grad_norm for r in records if r.grad_norm is not None]
    return VariantResult(
        name=name,
        description=DESCRIPTIONS[name].format(gain=config.rnn_gain, clip_norm=config.clip_norm,
                                              stable_gain=STABLE_GAIN),
        layers=layers,
        grad_norms=_median_by_layer(records, "weight_grad_norm", layers),
        delta_norms=_median_by_layer(records, "delta_norm", layers),
        initial_grad_norms=[layer.weight_grad_norm for layer in records[0].layers],
        initial_loss=records[0].loss,
        final_loss=records[-1].loss,
        test_accuracy=_accuracy(model, x_test.astype(dtype, copy=False), y_test, sequence),
        max_grad_norm=float(np.max(grad_norms)) if grad_norms else math.nan,
        max_update_ratio=max(update_ratios, default=math.nan),
        final_saturated_fraction=max(
            (layer.saturated_fraction for layer in records[-1].layers
             if layer.saturated_fraction is not None), default=math.nan),
        diverged=diverged,
        findings=diagnose(records),
        records=records,
        log_path=str(log_path) if log_path is not None else None,
    )


def run_experiments(
    config: ExperimentConfig | None = None,
    variants=VARIANTS,
    out_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[VariantResult]:
    """Run the chosen variants on the digits data, each logged to ``out_dir/<variant>``."""
    config = (config or ExperimentConfig()).validate()
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; use some of {', '.join(VARIANTS)}")
    data = load_experiment_data(config.seed, np.dtype(config.dtype))

    results = []
    for name in variants:
        run_dir = Path(out_dir) / name if out_dir is not None else None
        logger.info("running variant %s", name)
        results.append(run_variant(name, data, config, run_dir, progress))
    return results


# --- report -----------------------------------------------------------------------------------


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2e}"


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def format_layer_table(results: list[VariantResult], attribute: str = "grad_norms") -> str:
    """Format a table of a per-layer quantity: one row per depth, one column per variant."""
    depth = max(len(result.layers) for result in results)
    name_width = max(12, *(len(result.name) + 2 for result in results))
    header = "layer".ljust(8) + "".join(result.name.rjust(name_width) for result in results)
    lines = [header]
    for index in range(depth):
        label = "out" if all(index == len(r.layers) - 1 for r in results) else str(index + 1)
        cells = []
        for result in results:
            values = getattr(result, attribute)
            cells.append(_number(values[index] if index < len(values) else None))
        lines.append(label.ljust(8) + "".join(cell.rjust(name_width) for cell in cells))
    return "\n".join(lines)


def format_summary_table(results: list[VariantResult]) -> str:
    """Format loss, accuracy, largest norms and finding kinds, one column per variant."""
    name_width = max(14, *(len(result.name) + 2 for result in results))
    rows = [
        ("initial loss", [f"{r.initial_loss:.3g}" for r in results]),
        ("final loss", [f"{r.final_loss:.3g}" for r in results]),
        ("test accuracy", [f"{r.test_accuracy:.1%}" for r in results]),
        ("max grad norm", [_number(r.max_grad_norm) for r in results]),
        ("max update ratio", [_number(r.max_update_ratio) for r in results]),
        ("saturated at end", [_percent(r.final_saturated_fraction) for r in results]),
    ]
    lines = ["".ljust(18) + "".join(r.name.rjust(name_width) for r in results)]
    for label, cells in rows:
        lines.append(label.ljust(18) + "".join(cell.rjust(name_width) for cell in cells))
    lines.append("findings:")
    for result in results:
        lines.append(f"  {result.name}: {', '.join(result.kinds) or 'none'}")
    return "\n".join(lines)
