"""Typed exceptions raised by propagate; the CLI turns each into one line and exit status 2."""

from __future__ import annotations


class PropagateError(Exception):
    """Base class of every error that propagate raises on purpose."""


class ParseError(PropagateError, ValueError):
    """Text that the safe expression parser rejects.

    ``position`` is the 0-based character offset of the offending token in ``text``.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None, token: str = ""):
        self.text = text
        self.position = position
        self.token = token
        if position is not None:
            message = f"{message} at position {position}"
            if token:
                message += f" ({token!r})"
        super().__init__(message)


class GraphError(PropagateError, ValueError):
    """A computational graph that is ill-formed: unknown name, duplicate node or cycle."""


class QuantityError(PropagateError, ValueError):
    """An invalid uncertain input: bad value, uncertainty, distribution or correlation."""


class CovarianceError(QuantityError):
    """A covariance or correlation matrix that is not symmetric positive semi-definite."""


class DataError(PropagateError, ValueError):
    """A data file or array that cannot be used: missing column, bad shape, non-numeric entry."""


class ShapeError(PropagateError, ValueError):
    """Operands or gradients whose shapes do not fit the operation."""


class GradientError(PropagateError, RuntimeError):
    """A backward pass that cannot run or produced an invalid gradient."""


class NonFiniteError(GradientError):
    """A loss, gradient or norm that became NaN or infinite."""


class CheckpointError(PropagateError, OSError):
    """A checkpoint or log that cannot be read or written."""


class MissingDependencyError(PropagateError, ImportError):
    """An optional dependency that a feature needs is not installed."""
