"""Data for training: the bundled digits, CSV tables, splits, mini-batches and standardisation.

Every random choice takes a seed or a ``numpy.random.Generator``, so a run can be repeated
exactly. Features come back as 2-D float arrays (rows are samples); class labels as int64
indices ``0..n_classes-1``; regression targets as 1-D float arrays.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from propagate.errors import DataError

logger = logging.getLogger(__name__)

DIGITS_RESOURCE = "digits.csv.gz"
DIGITS_FEATURES = 64
DIGITS_CLASSES = 10

# A numeric target with at most this many distinct integer values is taken as class labels
# when the task is "auto".
MAX_AUTO_CLASSES = 50

TASKS = ("auto", "classification", "regression")


@dataclass
class Table:
    """Features and target read from a CSV file.

    Attributes
    ----------
    x : ndarray, shape (n_samples, n_features)
        Feature matrix in the requested float dtype.
    y : ndarray, shape (n_samples,)
        Class indices (int64) for classification, float targets for regression.
    feature_names : list of str
        Header names of the feature columns, in column order.
    target : str
        Header name of the target column.
    task : {"classification", "regression"}
        What the target is.
    class_names : list of str or None
        For classification, the label of each class index; None for regression.
    """

    x: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target: str
    task: str
    class_names: list[str] | None = field(default=None)

    @property
    def n_classes(self) -> int:
        """Number of classes, or 0 for a regression target."""
        return len(self.class_names) if self.class_names is not None else 0


def _check_float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise DataError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


@lru_cache(maxsize=1)
def _digits_raw() -> np.ndarray:
    data = resources.files("propagate").joinpath("data", DIGITS_RESOURCE).read_bytes()
    with gzip.open(io.BytesIO(data), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    table.setflags(write=False)
    return table


def load_digits(dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled 8x8 handwritten digits (1,797 images, UCI test set).

    Parameters
    ----------
    dtype : float32 or float64
        Dtype of the returned features.

    Returns
    -------
    x : ndarray, shape (1797, 64)
        Pixel intensities 0..16, row-major over the 8x8 image, in ``dtype``.
    y : ndarray of int64, shape (1797,)
        Digit class 0..9.
    """
    dtype = _check_float_dtype(dtype)
    table = _digits_raw()
    x = table[:, :DIGITS_FEATURES].astype(dtype)
    y = table[:, DIGITS_FEATURES].astype(np.int64)
    return x, y


def _parse_number(text: str, path, line: int, column: str) -> float:
    text = text.strip()
    if not text:
        raise DataError(f"{path}, line {line}, column {column!r}: empty cell; fill in a number")
    try:
        value = _to_float(text)
    except ValueError:
        hint = "feature columns must be numeric"
        if _is_float(text.replace(",", ".", 1)):
            hint = "write decimals with a point, not a comma"
        raise DataError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a number; {hint}"
        ) from None
    if not math.isfinite(value):
        raise DataError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a finite number; "
            "remove or replace the row"
        )
    return value


DELIMITERS = (",", ";", "\t")


def _detect_delimiter(text: str) -> str:
    """Return the delimiter that occurs most often in the first non-blank line.

    Comma wins ties, so a file without any delimiter (a single column) reads as CSV.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: first.count(delimiter) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: counts[delimiter])


def _read_rows(path) -> tuple[list[str], list[list[str]]]:
    try:
        # utf-8-sig drops the byte order mark that Excel writes at the start of a UTF-8 CSV.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give the path of a CSV file") from None
    except PermissionError:
        raise DataError(f"{path} cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8 CSV") from None
    delimiter = _detect_delimiter(text)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))

    # Blank lines carry no data; their line numbers still count for error messages.
    numbered = [(number, row) for number, row in enumerate(rows, start=1) if any(row)]
    if not numbered:
        raise DataError(f"{path} is empty; it needs a header line and at least two data rows")
    header = [name.strip() for name in numbered[0][1]]
    body = numbered[1:]
    if len(body) < 2:
        raise DataError(
            f"{path} has {len(body)} data row(s); at least two are needed to train and test"
        )
    for number, row in body:
        if len(row) != len(header):
            raise DataError(
                f"{path}, line {number}: {len(row)} cells, but the header has {len(header)}"
            )
    header, body = _drop_empty_unnamed(path, header, body)
    _check_header(path, header)
    return header, [[str(number)] + row for number, row in body]


def _drop_empty_unnamed(path, header: list[str], body) -> tuple[list[str], list]:
    """Drop columns with no name and no data, such as a trailing delimiter on every line."""
    keep = [
        index
        for index, name in enumerate(header)
        if name or any(row[index].strip() for _, row in body)
    ]
    if len(keep) == len(header):
        return header, body
    logger.info("%s: ignoring %d empty column(s) without a name", path, len(header) - len(keep))
    return [header[i] for i in keep], [(number, [row[i] for i in keep]) for number, row in body]


def _check_header(path, header: list[str]) -> None:
    for position, name in enumerate(header, start=1):
        if not name:
            raise DataError(
                f"{path}: column {position} of the header has no name but contains data; "
                "add a name to the header line"
            )
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(
                f"{path}: the header names column {name!r} more than once; "
                "give each column a distinct name"
            )
        seen.add(name)


def _infer_task(values: list[str], is_numeric: bool) -> str:
    if not is_numeric:
        return "classification"
    numbers = [_to_float(v) for v in values]
    if all(n.is_integer() for n in numbers) and len(set(numbers)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def load_csv(
    path: str | os.PathLike,
    target: str,
    features: Sequence[str] | None = None,
    task: str = "auto",
    dtype=np.float64,
) -> Table:
    """Load a CSV file with a header line into features and a target.

    Parameters
    ----------
    path : path-like
        CSV file in UTF-8 (a byte order mark is allowed), first line the column names.
        The delimiter is a comma, semicolon or tab, whichever occurs most often in the
        header line. Cells may have spaces around them; decimals must use a point.
    target : str
        Name of the target column.
    features : sequence of str, optional
        Feature columns to use; by default every column except ``target``. Each must be
        numeric in every row.
    task : {"auto", "classification", "regression"}
        ``"classification"`` maps the target's distinct values to indices 0..k-1 in sorted
        order (numeric order for numbers, text order for strings). ``"regression"`` needs a
        numeric target. ``"auto"`` picks classification for a text target or for integer
        values with at most ``MAX_AUTO_CLASSES`` distinct values, regression otherwise.
    dtype : float32 or float64
        Dtype of the features (and of a regression target).

    Returns
    -------
    Table

    Raises
    ------
    DataError
        For a missing file or column, an empty file, fewer than two data rows, or a row
        with the wrong number of cells. Also for a header that repeats a name or leaves a
        column with data unnamed, and for a feature cell that is empty, not a number, NaN or
        infinite. The message names the file, the line and the column.
    """
    dtype = _check_float_dtype(dtype)
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    header, rows = _read_rows(path)

    if target not in header:
        raise DataError(f"{path}: no column named {target!r}; columns are {', '.join(header)}")
    if features is None:
        features = [name for name in header if name != target]
    else:
        features = list(features)
        for name in features:
            if name not in header:
                raise DataError(
                    f"{path}: no feature column named {name!r}; columns are {', '.join(header)}"
                )
    if not features:
        raise DataError(f"{path}: no feature columns besides the target {target!r}")
    if target in features:
        raise DataError(f"{path}: column {target!r} cannot be both target and feature")

    # Row cells are offset by one because each row starts with its line number.
    feature_index = [header.index(name) + 1 for name in features]
    target_index = header.index(target) + 1
    x = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, row in enumerate(rows):
        line = int(row[0])
        for j, (name, k) in enumerate(zip(features, feature_index, strict=True)):
            x[i, j] = _parse_number(row[k], path, line, name)

    target_cells = [row[target_index].strip() for row in rows]
    for row, cell in zip(rows, target_cells, strict=True):
        if not cell:
            raise DataError(f"{path}, line {row[0]}, column {target!r}: empty target cell")
    try:
        numbers = [_to_float(cell) for cell in target_cells]
        is_numeric = True
    except ValueError:
        is_numeric = False
    if is_numeric:
        for row, cell in zip(rows, target_cells, strict=True):
            _parse_number(cell, path, int(row[0]), target)
    if task == "auto":
        task = _infer_task(target_cells, is_numeric)

    class_names = None
    if task == "regression":
        if not is_numeric:
            line, cell = next(
                (row[0], cell)
                for row, cell in zip(rows, target_cells, strict=True)
                if not _is_float(cell)
            )
            raise DataError(
                f"{path}, line {line}, column {target!r}: {cell!r} is not a number; "
                "a regression target must be numeric"
            )
        y = np.asarray(numbers, dtype=dtype)
    else:
        if is_numeric:
            distinct = sorted(set(numbers))
            class_names = [_format_label(value) for value in distinct]
            lookup = {value: index for index, value in enumerate(distinct)}
            y = np.array([lookup[value] for value in numbers], dtype=np.int64)
        else:
            class_names = sorted(set(target_cells))
            lookup = {name: index for index, name in enumerate(class_names)}
            y = np.array([lookup[cell] for cell in target_cells], dtype=np.int64)
        if len(class_names) < 2:
            raise DataError(
                f"{path}: target column {target!r} has a single class "
                f"({class_names[0]!r}); classification needs at least two"
            )

    logger.info("read %s: %d rows, %d features, %s target", path, len(rows), len(features), task)
    return Table(
        x=x.astype(dtype, copy=False),
        y=y,
        feature_names=features,
        target=target,
        task=task,
        class_names=class_names,
    )


def _to_float(text: str) -> float:
    # Python's float() accepts digit separators such as "1_000"; a CSV number has none.
    if "_" in text:
        raise ValueError(f"could not convert string to float: {text!r}")
    return float(text)


def _is_float(text: str) -> bool:
    try:
        _to_float(text)
    except ValueError:
        return False
    return True


def _format_label(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim < 1 or y.ndim < 1:
        raise DataError(f"x and y must be arrays of samples, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"x has {len(x)} samples but y has {len(y)}; they must have one row per sample"
        )


def iterate_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield mini-batches ``(x_batch, y_batch)`` that cover every sample once.

    Parameters
    ----------
    x, y : ndarray
        Samples along the first axis; both must have the same length.
    batch_size : int
        Samples per batch; the last batch is smaller when ``len(x)`` is not a multiple.
    rng : numpy.random.Generator, optional
        Source of the permutation; required when ``shuffle`` is true. One permutation is
        drawn per call, so the generator's state advances by the same amount every epoch.
    shuffle : bool
        Visit the samples in a random order; otherwise in stored order.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    _check_pair(x, y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise DataError(f"batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    if shuffle and rng is None:
        raise DataError("shuffle=True needs rng, e.g. numpy.random.default_rng(seed)")

    n = len(x)
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield x[index], y[index]


def batch_count(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Return how many batches ``iterate_batches`` yields for ``n_samples`` samples."""
    return n_samples // batch_size if drop_last else -(-n_samples // batch_size)


def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split samples at random into a training set and a test set.

    Parameters
    ----------
    x, y : ndarray
        Samples along the first axis.
    test_fraction : float
        Share of samples for the test set, strictly between 0 and 1. The test set has
        ``round(test_fraction * n)`` samples; a stratified split gives each class its share
        of them, rounded so that the total stays the same.
    seed : int or None
        Seed of the permutation; the same seed gives the same split.
    stratify : bool
        Keep each class's share the same in both sets; ``y`` must hold class labels.

    Returns
    -------
    x_train, x_test, y_train, y_test : ndarray
        Each set in a random order.

    Raises
    ------
    DataError
        When the fraction is out of range or either set would be empty.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    _check_pair(x, y)
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    rng = np.random.default_rng(seed)

    if stratify:
        members = [rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)]
        counts = _stratified_test_counts([len(m) for m in members], test_fraction, len(x))
        test_index = rng.permutation(
            np.concatenate([m[:k] for m, k in zip(members, counts, strict=True)])
        )
        train_index = rng.permutation(
            np.concatenate([m[k:] for m, k in zip(members, counts, strict=True)])
        )
    else:
        order = rng.permutation(len(x))
        n_test = int(round(test_fraction * len(x)))
        test_index = order[:n_test]
        train_index = order[n_test:]

    if len(test_index) == 0 or len(train_index) == 0:
        raise DataError(
            f"test_fraction {test_fraction} of {len(x)} samples leaves "
            f"{len(train_index)} for training and {len(test_index)} for testing; "
            "both need at least one (use more data or another fraction)"
        )
    return x[train_index], x[test_index], y[train_index], y[test_index]


def _stratified_test_counts(class_sizes: list[int], test_fraction: float, n: int) -> list[int]:
    """Return how many samples of each class go to the test set.

    The total is ``round(test_fraction * n)``, as for a plain split. Each class gets the
    floor of its exact share, and the samples left over go to the classes with the largest
    fractional parts (largest-remainder apportionment), first to classes that keep at least
    one training sample that way. Rounding each class on its own instead would leave the
    test set empty when every class is small.
    """
    shares = [test_fraction * size for size in class_sizes]
    counts = [math.floor(share) for share in shares]
    left = int(round(test_fraction * n)) - sum(counts)
    by_remainder = sorted(
        range(len(shares)), key=lambda i: (counts[i] - shares[i], -class_sizes[i], i)
    )
    # A class that would lose its last training sample is served only in the second pass.
    first = [i for i in by_remainder if counts[i] + 1 < class_sizes[i]]
    second = [i for i in by_remainder if counts[i] + 1 >= class_sizes[i]]
    for i in (first + second)[: max(left, 0)]:
        counts[i] += 1
    return counts


class Standardizer:
    """Shift and scale each feature column to mean 0 and standard deviation 1.

    Fit it on the training set only, then transform both sets with the same numbers, so the
    test set leaks nothing into training. A constant column has standard deviation 0; its
    scale is set to 1, so it maps to 0 instead of dividing by zero. Statistics are computed in
    float64; ``transform`` returns the input's float dtype (float32 stays float32).
    """

    def __init__(self):
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        """Whether ``fit`` or ``load_state_dict`` has set the statistics."""
        return self.mean is not None

    def fit(self, x: np.ndarray) -> Standardizer:
        """Compute per-column mean and population standard deviation of ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise DataError(f"Standardizer.fit needs a non-empty 2-D array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise DataError("Standardizer.fit got NaN or infinite values; clean the data first")
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale = np.where(std > 0.0, std, 1.0)
        return self

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise DataError("Standardizer is not fitted; call fit(x_train) first")
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != len(self.mean):
            raise DataError(
                f"Standardizer was fitted on {len(self.mean)} columns, got shape {x.shape}; "
                f"pass an array of shape (n_samples, {len(self.mean)}), e.g. x[None, :] for "
                "one sample"
            )
        return x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Return ``(x - mean) / scale`` in the dtype of ``x`` (float64 for integers)."""
        x = self._check_input(x)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        return ((x - self.mean.astype(dtype)) / self.scale.astype(dtype)).astype(dtype, copy=False)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """Fit on ``x`` and return it transformed."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Return ``z * scale + mean``, undoing ``transform``."""
        z = self._check_input(z)
        dtype = z.dtype if z.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        return (z * self.scale.astype(dtype) + self.mean.astype(dtype)).astype(dtype, copy=False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return copies of the fitted statistics, for a checkpoint."""
        if not self.fitted:
            raise DataError("Standardizer is not fitted; nothing to save")
        return {"mean": self.mean.copy(), "scale": self.scale.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> Standardizer:
        """Restore statistics saved by ``state_dict``."""
        try:
            mean = np.asarray(state["mean"], dtype=np.float64)
            scale = np.asarray(state["scale"], dtype=np.float64)
        except KeyError as exc:
            raise DataError(f"Standardizer state lacks {exc.args[0]!r}") from None
        if mean.shape != scale.shape or mean.ndim != 1:
            raise DataError(
                f"Standardizer state has mean shape {mean.shape} and scale shape {scale.shape}; "
                "both must be the same 1-D shape"
            )
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            raise DataError("Standardizer state has a scale that is not positive and finite")
        self.mean = mean.copy()
        self.scale = scale.copy()
        return self
