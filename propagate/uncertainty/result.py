"""Results of uncertainty propagation and their JSON form.

Each output has its estimate, standard uncertainty, degrees of freedom, coverage factor,
expanded uncertainty, interval and budget. The result as a whole has the output
covariance and correlation matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from propagate.uncertainty.budget import BudgetRow
from propagate.uncertainty.textform import format_concise, format_plus_minus


@dataclass(frozen=True)
class OutputResult:
    """The uncertainty of one output.

    Attributes
    ----------
    name : str
    value : float
        The output estimate y (for Monte Carlo, the mean of the draws).
    std : float
        The combined standard uncertainty u_c(y).
    dof : float
        Effective degrees of freedom; ``math.inf`` when every input is exact.
    k : float
        The coverage factor for ``level``.
    expanded : float
        The expanded uncertainty U = k u_c(y) (for Monte Carlo, the half-width of the
        probabilistically symmetric coverage interval).
    interval : tuple of float
        The coverage interval.
    level : float
        The coverage probability.
    budget : list of BudgetRow
    details : dict
        Method-specific numbers (Monte Carlo intervals and validation, second-order
        terms), JSON-ready.
    """

    name: str
    value: float
    std: float
    dof: float
    k: float
    expanded: float
    interval: tuple[float, float]
    level: float
    budget: list[BudgetRow]
    details: dict = field(default_factory=dict)

    def concise(self, digits: int = 2) -> str:
        """Return ``y(u)``, e.g. ``127.732(71)``."""
        return format_concise(self.value, self.std, digits)

    def plus_minus(self, digits: int = 2) -> str:
        """Return ``y ± u``, e.g. ``127.732 ± 0.071``."""
        return format_plus_minus(self.value, self.std, digits)

    def to_dict(self) -> dict:
        """Return the output as JSON-ready data (infinite ``dof`` becomes None)."""
        data = {
            "name": self.name,
            "value": self.value,
            "std": self.std,
            "dof": None if math.isinf(self.dof) else self.dof,
            "k": self.k,
            "expanded": self.expanded,
            "interval": list(self.interval),
            "level": self.level,
            "budget": [row.to_dict() for row in self.budget],
        }
        data.update(self.details)
        return data

    def __str__(self) -> str:
        return f"{self.name} = {self.plus_minus()}"


@dataclass(frozen=True)
class UncertaintyResult:
    """The outputs of one propagation, with their covariance and correlation matrices.

    Index by output name or position: ``result["R"].std``.
    """

    method: str
    outputs: tuple[OutputResult, ...]
    covariance: np.ndarray
    correlation: np.ndarray
    details: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The output names, in the order of the matrices."""
        return tuple(output.name for output in self.outputs)

    @property
    def values(self) -> np.ndarray:
        """The output estimates."""
        return np.array([output.value for output in self.outputs])

    @property
    def stds(self) -> np.ndarray:
        """The combined standard uncertainties."""
        return np.array([output.std for output in self.outputs])

    def __getitem__(self, key: str | int) -> OutputResult:
        if isinstance(key, str):
            for output in self.outputs:
                if output.name == key:
                    return output
            raise KeyError(f"no output named {key!r}; outputs are {', '.join(self.names)}")
        return self.outputs[key]

    def __len__(self) -> int:
        return len(self.outputs)

    def __iter__(self):
        return iter(self.outputs)

    def to_dict(self) -> dict:
        """Return the result in the JSON layout of ``propagate uncertainty --json``."""
        data = {
            "method": self.method,
            "outputs": [output.to_dict() for output in self.outputs],
            "covariance": self.covariance.tolist(),
            "correlation": self.correlation.tolist(),
        }
        data.update(self.details)
        return data

    def to_ufloats(self) -> dict:
        """Return the outputs as correlated ``uncertainties`` numbers, by name."""
        from propagate.uncertainty.interop import to_ufloats

        return to_ufloats(self)

    def __str__(self) -> str:
        return "\n".join(str(output) for output in self.outputs)
