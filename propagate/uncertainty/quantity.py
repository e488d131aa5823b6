"""Uncertain input quantities: an estimate, its standard uncertainty, degrees of freedom and
the distribution that describes the state of knowledge (JCGM 100:2008, section 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from propagate.errors import QuantityError

DISTRIBUTIONS = ("normal", "rectangular", "triangular", "t")

# std = half_width / divisor for the symmetric bounded distributions (JCGM 100:2008, 4.3.7
# and 4.3.9).
_HALF_WIDTH_DIVISOR = {"rectangular": math.sqrt(3.0), "triangular": math.sqrt(6.0)}


@dataclass(frozen=True)
class Quantity:
    """An input estimate with its standard uncertainty.

    Parameters
    ----------
    value : float
        The estimate x of the input quantity.
    std : float
        The standard uncertainty u(x), not negative. Zero makes an exact constant.
    dof : float, optional
        Degrees of freedom of u(x); ``math.inf`` (the default) for a Type B evaluation
        known exactly. Must be positive.
    distribution : {"normal", "rectangular", "triangular", "t"}
        The probability distribution that Monte Carlo draws from. For "t" the draws are
        ``value + std * T``, where ``T`` is a Student t variable with ``dof`` degrees of
        freedom. That is the scaled and shifted t distribution of JCGM 101:2008, 6.4.9 for
        a Type A evaluation, and its standard deviation is ``std * sqrt(dof / (dof - 2))``.
    name : str, optional
        A label used in messages.
    group : str, optional
        A label shared by inputs that were evaluated together from one set of
        simultaneous readings (Type A, JCGM 100:2008, 5.2.3), as
        :meth:`TypeA.quantities <propagate.uncertainty.TypeA.quantities>` sets it. Inputs
        of a group have the same ``dof`` and ``distribution``. Welch-Satterthwaite treats
        their correlated contributions as one component with those degrees of freedom,
        and Monte Carlo draws a group of "t" inputs from one multivariate t distribution.

    Raises
    ------
    QuantityError
        If the value is not finite, the uncertainty is negative or not finite, ``dof`` is
        not positive, or the distribution is unknown.

    Examples
    --------
    >>> Quantity(4.999, 0.0032, dof=4).std
    0.0032
    >>> round(Quantity.rectangular(20.0, 0.5).std, 6)
    0.288675
    """

    value: float
    std: float
    dof: float = math.inf
    distribution: str = "normal"
    name: str | None = None
    group: str | None = None

    def __post_init__(self):
        label = f"input {self.name!r}" if self.name else "quantity"
        value = _as_float(self.value, f"value of {label}")
        std = _as_float(self.std, f"standard uncertainty of {label}")
        dof = _as_float(self.dof, f"degrees of freedom of {label}")

        if not math.isfinite(value):
            raise QuantityError(f"value of {label} is {value}; give a finite number")
        if not math.isfinite(std) or std < 0:
            raise QuantityError(
                f"standard uncertainty of {label} is {std}; give a finite number >= 0"
            )
        if math.isnan(dof) or dof <= 0:
            raise QuantityError(
                f"degrees of freedom of {label} is {dof}; give a number > 0 (inf if exact)"
            )
        if self.distribution not in DISTRIBUTIONS:
            raise QuantityError(
                f"distribution of {label} is {self.distribution!r}; "
                f"use one of {', '.join(DISTRIBUTIONS)}"
            )
        if self.distribution == "t" and not (math.isfinite(dof) and dof > 2):
            raise QuantityError(
                f"{label} has a t distribution with {dof} degrees of freedom; "
                "the t distribution needs finite degrees of freedom > 2 for a finite variance"
            )

        object.__setattr__(self, "value", value)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "dof", dof)

    @classmethod
    def rectangular(cls, value, half_width, dof=math.inf, name=None) -> Quantity:
        """Make a quantity with a rectangular distribution of half-width ``a`` (u = a/√3)."""
        return cls._from_half_width(value, half_width, "rectangular", dof, name)

    @classmethod
    def triangular(cls, value, half_width, dof=math.inf, name=None) -> Quantity:
        """Make a quantity with a symmetric triangular distribution of half-width ``a``
        (u = a/√6)."""
        return cls._from_half_width(value, half_width, "triangular", dof, name)

    @classmethod
    def _from_half_width(cls, value, half_width, distribution, dof, name) -> Quantity:
        label = f"input {name!r}" if name else "quantity"
        width = _as_float(half_width, f"half-width of {label}")
        if not math.isfinite(width) or width < 0:
            raise QuantityError(f"half-width of {label} is {width}; give a finite number >= 0")
        std = width / _HALF_WIDTH_DIVISOR[distribution]
        return cls(value, std, dof=dof, distribution=distribution, name=name)

    @classmethod
    def parse(cls, text: str, name: str | None = None, **kwargs) -> Quantity:
        """Parse ``4.9990(32)``, ``4.9990+/-0.0032`` or ``4.9990±0.0032``.

        See :func:`propagate.uncertainty.textform.parse_value_uncertainty` for the grammar.
        Extra keyword arguments (``dof``, ``distribution``) go to the constructor.
        """
        from propagate.uncertainty.textform import parse_value_uncertainty

        value, std = parse_value_uncertainty(text, name=name)
        return cls(value, std, name=name, **kwargs)

    @property
    def variance(self) -> float:
        """The variance u(x)²."""
        return self.std * self.std

    @property
    def half_width(self) -> float | None:
        """Half-width of a rectangular or triangular distribution, else None."""
        divisor = _HALF_WIDTH_DIVISOR.get(self.distribution)
        return None if divisor is None else self.std * divisor

    def with_name(self, name: str) -> Quantity:
        """Return a copy labelled ``name``."""
        return Quantity(self.value, self.std, self.dof, self.distribution, name, self.group)

    def __str__(self) -> str:
        from propagate.uncertainty.textform import format_plus_minus

        return format_plus_minus(self.value, self.std)


def _as_float(number, description: str) -> float:
    try:
        return float(number)
    except (TypeError, ValueError):
        raise QuantityError(f"{description} is {number!r}; give a number") from None
