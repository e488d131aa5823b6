"""Type A evaluation from repeated simultaneous readings: means, standard deviations of the
means, degrees of freedom and the correlation of the means (JCGM 100:2008, 4.2 and 5.2.3)."""

from __future__ import annotations

import csv
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from propagate.errors import DataError
from propagate.uncertainty.quantity import Quantity

logger = logging.getLogger(__name__)

# A column name must be usable as an input name in a model expression.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")


@dataclass(frozen=True)
class TypeA:
    """Type A evaluation of several input quantities observed together.

    Attributes
    ----------
    names : tuple of str
        The quantities, in column order.
    count : int
        The number n of simultaneous observations.
    means : numpy.ndarray
        The arithmetic means, the input estimates (GUM 4.2.1).
    stds : numpy.ndarray
        The experimental standard deviations of the means s(x̄) = s/√n (GUM 4.2.3).
    dof : int
        Degrees of freedom n - 1 of every s(x̄) (GUM 4.2.6).
    correlation : numpy.ndarray
        The correlation coefficients of the means (GUM 5.2.3, equation 17), which equal
        those of the observations.
    """

    names: tuple[str, ...]
    count: int
    means: np.ndarray
    stds: np.ndarray
    dof: int
    correlation: np.ndarray

    @property
    def covariance(self) -> np.ndarray:
        """The covariance matrix of the means s(x̄_i, x̄_j) (GUM 5.2.3, equation 17)."""
        return self.correlation * np.outer(self.stds, self.stds)

    def quantities(
        self, distribution: str | None = None, group: str | None = None
    ) -> dict[str, Quantity]:
        """Return each mean as a Quantity with its s(x̄) and n - 1 degrees of freedom.

        The quantities share one Type A ``group``, so that Welch-Satterthwaite gives the
        output n - 1 degrees of freedom for a linear model rather than more, and Monte
        Carlo draws them jointly.

        Parameters
        ----------
        distribution : {"t", "normal"}, optional
            What Monte Carlo draws. By default "t": the scaled and shifted t distribution
            with n - 1 degrees of freedom that JCGM 101:2008, 6.4.9 assigns to the mean
            of n readings, drawn jointly for all columns as a multivariate t. Then a
            linear model's Monte Carlo interval agrees with the first-order interval
            whose k comes from ν_eff = n - 1. With n < 4 readings that t has no finite
            variance, so the default falls back to "normal" and logs a warning.
        group : str, optional
            The group label; by default ``"readings of "`` and the column names.
        """
        if distribution is None:
            distribution = "t" if self.dof > 2 else "normal"
            if distribution == "normal":
                logger.warning(
                    "%d readings of %s: the t distribution with %d degrees of freedom has "
                    "no finite variance, so Monte Carlo draws them as normal, which makes "
                    "its interval too narrow; take at least 4 readings",
                    self.count,
                    ", ".join(self.names),
                    self.dof,
                )
        if group is None:
            group = "readings of " + ", ".join(self.names)
        return {
            name: Quantity(
                float(mean),
                float(std),
                dof=self.dof,
                distribution=distribution,
                name=name,
                group=group,
            )
            for name, mean, std in zip(self.names, self.means, self.stds, strict=True)
        }

    def correlation_pairs(self) -> dict[tuple[str, str], float]:
        """Return the non-zero correlation coefficients as ``{(a, b): r}``."""
        pairs = {}
        for i, a in enumerate(self.names):
            for j in range(i + 1, len(self.names)):
                if self.correlation[i, j] != 0.0:
                    pairs[(a, self.names[j])] = float(self.correlation[i, j])
        return pairs


def type_a(observations, names: Sequence[str]) -> TypeA:
    """Evaluate repeated simultaneous observations by Type A.

    Parameters
    ----------
    observations : array_like, shape (n, q)
        One row per simultaneous observation, one column per quantity.
    names : sequence of str
        The q quantity names.

    Raises
    ------
    DataError
        If the shape does not fit ``names``, an entry is not finite, or there are fewer
        than 2 observations.
    """
    names = tuple(names)
    try:
        data = np.array(observations, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("readings contain entries that are not numbers") from None
    if data.ndim != 2 or data.shape[1] != len(names):
        raise DataError(
            f"readings have shape {data.shape}; expected (observations, {len(names)}) "
            f"for {', '.join(names)}"
        )
    count = data.shape[0]
    if count < 2:
        raise DataError(
            f"readings have {count} observation(s); a Type A evaluation needs at least 2 rows"
        )
    bad_rows, bad_cols = np.nonzero(~np.isfinite(data))
    if bad_rows.size:
        raise DataError(
            f"reading {bad_rows[0] + 1} of {names[bad_cols[0]]} is "
            f"{data[bad_rows[0], bad_cols[0]]}; give finite numbers"
        )

    means = data.mean(axis=0)
    covariance = np.atleast_2d(np.cov(data, rowvar=False, ddof=1))
    stds = np.sqrt(np.diag(covariance) / count)

    spread = np.sqrt(np.diag(covariance))
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = covariance / np.outer(spread, spread)
    constant = spread == 0
    correlation[constant, :] = 0.0
    correlation[:, constant] = 0.0
    np.fill_diagonal(correlation, 1.0)
    correlation = np.clip(correlation, -1.0, 1.0)

    return TypeA(names, count, means, stds, count - 1, correlation)


def read_readings(path: str | os.PathLike) -> TypeA:
    """Read a CSV of simultaneous readings and evaluate it by Type A.

    The first row names the quantities, one column each; every further non-empty row is
    one simultaneous observation. Lines starting with ``#`` are skipped.

    Raises
    ------
    OSError
        If the file cannot be read.
    DataError
        For a file that is not UTF-8 text, a missing header, a duplicate, empty or
        invalid column name, a row of the wrong length, a cell that is not a number, or
        fewer than 2 rows.
    """
    # utf-8-sig drops the byte order mark that spreadsheet programs put before the header.
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [
                row
                for row in csv.reader(handle)
                if row and any(cell.strip() for cell in row) and not row[0].startswith("#")
            ]
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: invalid UTF-8 at byte {exc.start}; save the readings as UTF-8 CSV text"
        ) from None
    if not rows:
        raise DataError(f"{path}: empty file; expected a header row of quantity names")

    header = [cell.strip() for cell in rows[0]]
    if any(not name for name in header):
        raise DataError(f"{path}: the header has an empty column name")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: the header names a column twice: {', '.join(header)}")
    if all(_is_number(cell) for cell in header):
        raise DataError(f"{path}: the first row must name the quantities, e.g. V,I,phi")
    for name in header:
        if not _NAME.match(name):
            raise DataError(
                f"{path}: column name {name!r} is not a valid input name; use letters, "
                "digits and _ (not starting with a digit), separated by commas"
            )

    values = []
    for line_number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(
                f"{path}: row {line_number} has {len(row)} cells; expected {len(header)}"
            )
        numbers = []
        for name, cell in zip(header, row, strict=True):
            number = _to_number(cell)
            if number is None:
                raise DataError(
                    f"{path}: row {line_number}, column {name}: {cell.strip()!r} is not a "
                    "finite number"
                )
            numbers.append(number)
        values.append(numbers)

    if len(values) < 2:
        raise DataError(
            f"{path}: {len(values)} row(s) of readings; a Type A evaluation needs at least 2"
        )
    return type_a(values, header)


def _to_number(cell: str) -> float | None:
    try:
        number = float(cell)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _is_number(cell: str) -> bool:
    return _to_number(cell) is not None
