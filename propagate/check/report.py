"""Comparison reports: per-tensor rows of entry-by-entry errors, a verdict and a text table.

The relative error of an entry is ``|a - b| / max(|b|, floor)``, where ``b`` is the
reference (exact or numerical) value and ``a`` the value under test. The floor keeps an
entry whose reference is 0 or tiny from turning rounding noise into a large relative error:
below the floor the comparison is absolute, at ``rtol · floor``.

Against an exact reverse sweep the floor of each entry is ``max(floor, 1e-4 · m)``, where
``m`` is the entry's magnitude: the sum over chain-rule paths of the absolute values of their
contributions (see :class:`propagate.check.SweepResult`). Where contributions cancel, the
adjoint is much smaller than ``m``, and float64 rounding of the order of ``ε · m`` is all an
engine can achieve. At ``rtol = 1e-10`` this allows ``1e-14 · m``, about 45 ``ε · m``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from propagate.errors import ShapeError

DEFAULT_FLOOR = 1e-6
MAGNITUDE_FACTOR = 1e-4


@dataclass
class ReportRow:
    """Errors of one tensor: a parameter gradient, a module output's δ or an input gradient.

    Attributes
    ----------
    name : str
        Tensor name, such as ``0.weight`` or ``δ 0`` for the error term of module ``0``.
    kind : str
        ``"gradient"`` or ``"delta"``.
    shape : tuple of int
    max_abs_error, max_rel_error : float
    worst_index : tuple of int
        Index of the entry with the largest relative error.
    value, reference : float
        The tested and the reference value at ``worst_index``.
    passed : bool
        Whether every entry has a relative error of at most ``rtol``.
    rtol, floor : float
        Tolerance and floor this row was judged with.
    magnitude_factor : float
        Factor of the entries' magnitudes in their floors, or 0 when no magnitude was given.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    value: float
    reference: float
    passed: bool
    rtol: float
    floor: float
    magnitude_factor: float = 0.0

    def to_dict(self) -> dict:
        """Return the row as JSON-ready data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "worst_index": list(self.worst_index),
            "value": self.value,
            "reference": self.reference,
            "passed": self.passed,
            "rtol": self.rtol,
            "floor": self.floor,
            "magnitude_factor": self.magnitude_factor,
        }


def compare(
    name: str, kind: str, value, reference, rtol: float, floor: float, magnitude=None
) -> ReportRow:
    """Compare ``value`` with ``reference`` entry by entry and return the row.

    A NaN or infinity in ``value`` where the reference is finite counts as an infinite error.
    With ``magnitude`` (an array like ``reference``), each entry's floor is raised to
    ``MAGNITUDE_FACTOR`` times its magnitude, as the module docstring explains.

    Raises
    ------
    ShapeError
        If the two arrays differ in shape.
    """
    value = np.asarray(value, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if value.shape != reference.shape:
        raise ShapeError(
            f"cannot compare '{name}': tested shape {value.shape}, reference shape "
            f"{reference.shape}"
        )
    with np.errstate(invalid="ignore"):
        absolute = np.abs(value - reference)
    absolute = np.where(np.isnan(absolute), np.inf, absolute)
    floors = np.full(reference.shape, float(floor))
    if magnitude is not None:
        floors = np.maximum(floors, MAGNITUDE_FACTOR * np.asarray(magnitude, dtype=np.float64))
    relative = absolute / np.maximum(np.abs(reference), floors)
    factor = 0.0 if magnitude is None else MAGNITUDE_FACTOR
    if value.size == 0:
        return ReportRow(name, kind, value.shape, 0.0, 0.0, (), 0.0, 0.0, True, rtol, floor, factor)
    worst = np.unravel_index(int(np.argmax(relative)), value.shape)
    return ReportRow(
        name=name,
        kind=kind,
        shape=tuple(value.shape),
        max_abs_error=float(absolute.max()),
        max_rel_error=float(relative.max()),
        worst_index=tuple(int(i) for i in worst),
        value=float(value[worst]),
        reference=float(reference[worst]),
        passed=bool(relative.max() <= rtol),
        rtol=rtol,
        floor=floor,
        magnitude_factor=factor,
    )


@dataclass
class Report:
    """The rows of one check, its tolerance and its verdict.

    Attributes
    ----------
    title : str
        What was compared with what, e.g. ``"engine vs exact (float64)"``.
    rows : list of ReportRow
    rtol : float
        Largest relative error that passes (rows may carry their own, see ``ReportRow``).
    floor : float
        Floor of the denominator of the relative error (see the module docstring).
    notes : list of str
        Facts a reader needs, e.g. why the complex step was not run.
    """

    title: str
    rows: list[ReportRow]
    rtol: float
    floor: float = DEFAULT_FLOOR
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every row passed."""
        return all(row.passed for row in self.rows)

    @property
    def worst(self) -> str:
        """The tensor and entry of the largest relative error (as a multiple of its row's
        tolerance), e.g. ``0.weight[2,1]``."""
        if not self.rows:
            return "none"
        row = max(self.rows, key=lambda r: r.max_rel_error / r.rtol)
        return f"{row.name}[{','.join(map(str, row.worst_index))}]"

    @property
    def failed(self) -> list[str]:
        """Names of the rows that failed."""
        return [row.name for row in self.rows if not row.passed]

    def row(self, name: str) -> ReportRow:
        """Return the row of tensor ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        known = ", ".join(row.name for row in self.rows)
        raise KeyError(f"no row named {name!r}; rows: {known}")

    def to_dict(self) -> dict:
        """Return the report as JSON-ready data."""
        return {
            "title": self.title,
            "passed": self.passed,
            "worst": self.worst,
            "rtol": self.rtol,
            "floor": self.floor,
            "relative_error": (
                "|value - reference| / max(|reference|, floor, magnitude_factor * magnitude)"
            ),
            "notes": list(self.notes),
            "rows": [row.to_dict() for row in self.rows],
        }

    def table(self) -> str:
        """Return the rows as an aligned text table with a verdict line."""
        header = ("tensor", "kind", "shape", "max abs err", "max rel err", "worst", "rtol", "ok")
        lines = [header]

        for row in self.rows:
            lines.append(
                (
                    row.name,
                    row.kind,
                    "x".join(map(str, row.shape)) or "scalar",
                    f"{row.max_abs_error:.2e}",
                    f"{row.max_rel_error:.2e}",
                    ",".join(map(str, row.worst_index)) or "-",
                    f"{row.rtol:g}",
                    "yes" if row.passed else "NO",
                )
            )

        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [self.title]
        for line in lines:
            text.append(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            )

        verdict = "passed" if self.passed else f"FAILED: {', '.join(self.failed)}"
        floors = sorted({row.floor for row in self.rows} or {self.floor})
        factors = sorted({row.magnitude_factor for row in self.rows} - {0.0})
        magnitude = f", {factors[0]:g}·magnitude" if factors else ""
        text.append(
            f"{verdict} (relative error |a - b| / max(|b|, floor{magnitude}), floor "
            f"{', '.join(f'{floor:g}' for floor in floors)}; worst {self.worst})"
        )
        text.extend(f"note: {note}" for note in self.notes)
        return "\n".join(text)

    def __str__(self) -> str:
        return self.table()
