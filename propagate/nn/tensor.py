"""The Tensor: a NumPy array that records the operations applied to it for backward."""

from __future__ import annotations

import itertools
import numbers
import os
import sys

import numpy as np

from propagate.errors import GradientError, ShapeError
from propagate.nn import ops  # noqa: F401  (importing registers every primitive)
from propagate.nn.autograd import PRIMITIVES, is_anomaly_enabled, is_grad_enabled, run_backward

_hook_ids = itertools.count()
# NumPy 1.25 moved AxisError to numpy.exceptions, and NumPy 2.0 removed the old name.
_AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RemovableHandle:
    """Handle returned by ``register_hook``-style methods. ``remove()`` unregisters the hook."""

    def __init__(self, hooks: dict, key: int):
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Tensor:
    """An array node of the computational graph.

    Parameters
    ----------
    data : array_like
        The values. A NumPy array keeps its dtype (float32 stays float32); Python numbers
        and lists become NumPy's default dtype (float64 for floats, int64 for integers).
    requires_grad : bool
        Whether backward should compute the gradient with respect to this tensor. Only
        floating-point tensors can require a gradient.
    dtype : numpy dtype, optional
        Convert ``data`` to this dtype first.

    Attributes
    ----------
    data : numpy.ndarray
    grad : numpy.ndarray or None
        Gradient accumulated by backward, with the shape and dtype of ``data``.
    """

    # NumPy ufuncs refuse Tensors, so ``ndarray * tensor`` falls back to Tensor.__rmul__ and
    # ``np.exp(tensor)`` raises TypeError instead of silently leaving the graph.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = np.asarray(data, dtype=dtype)
        self.grad = None
        self._prim = None
        self._ctx = None
        self._parents: tuple[Tensor, ...] = ()
        self._hooks: dict = {}
        self._retains_grad = False
        self._origin = ""  # where the operation was recorded, kept under detect_anomaly
        self._requires_grad = False
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not np.issubdtype(self.data.dtype, np.floating):
            raise GradientError(
                f"only floating-point tensors can require a gradient, not dtype "
                f"{self.data.dtype}; convert the data with dtype=np.float64 or np.float32"
            )
        if not value and self._prim is not None:
            raise GradientError(
                "cannot turn off requires_grad on a tensor computed by an operation; "
                "use .detach() instead"
            )
        self._requires_grad = bool(value)

    # ------------------------------------------------------------------ array properties

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """Whether this tensor was created by the user rather than by a recorded operation."""
        return self._prim is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        # Without this, Python would take len() as the truth value, so Tensor([0.0]) is true.
        if self.data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor of shape {self.data.shape} is ambiguous; "
                f"use np.any(t.data) or np.all(t.data)"
            )
        return bool(self.data.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, prefix="Tensor(")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.data.dtype}{grad})"

    def item(self) -> float:
        """Return the single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(
                f"item() needs a tensor with one element, not shape {self.data.shape}; "
                f"reduce it first, e.g. with .sum() or .mean()"
            )
        return self.data.item()

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return np.asarray(self.data, dtype=dtype)

    def numpy(self) -> np.ndarray:
        """Return the underlying array (shared, not copied)."""
        return self.data

    def detach(self) -> Tensor:
        """Return a tensor that shares the data but is cut from the graph."""
        return Tensor(self.data)

    # ------------------------------------------------------------------ backward

    def backward(self, grad=None) -> None:
        """Compute the gradient of this tensor with respect to every graph leaf.

        Parameters
        ----------
        grad : array_like, optional
            Adjoint of this tensor (the vector in the vector-Jacobian product). May be
            omitted only for a one-element tensor, where it is 1.

        Notes
        -----
        The graph is kept, so a second call adds the same gradients to ``.grad`` again.
        NOTE: gradients are plain arrays, so a gradient of a gradient (PyTorch's
        ``create_graph=True``) is not supported.
        NOTE: the graph refers to the input arrays rather than copying them, and there is no
        version counter, so changing a tensor's ``data`` in place between forward and
        backward (e.g. an optimizer step) silently changes the gradients. PyTorch raises.
        """
        if not self.requires_grad:
            raise GradientError(
                "backward() called on a tensor that does not require a gradient; "
                "create the inputs or parameters with requires_grad=True"
            )
        if grad is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() without a gradient needs a one-element tensor, not shape "
                    f"{self.data.shape}; pass grad= or reduce the output to a scalar loss"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(getattr(grad, "data", grad), dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ShapeError(
                    f"backward() got a gradient of shape {grad.shape} for a tensor of shape "
                    f"{self.data.shape}"
                )
        run_backward(self, grad)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if not self.requires_grad:
            raise GradientError("retain_grad() on a tensor that does not require a gradient")
        self._retains_grad = True

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` with this tensor's gradient during backward.

        The hook receives the full adjoint (summed over every use of the tensor) before it
        flows on to the tensor's inputs. If it returns an array, that array replaces the
        gradient, and it must keep the shape and dtype.
        """
        if not self.requires_grad:
            raise GradientError("register_hook() on a tensor that does not require a gradient")
        key = next(_hook_ids)
        self._hooks[key] = hook
        return RemovableHandle(self._hooks, key)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ operators

    def __add__(self, other):
        return apply("add", self, _coerce(other, self))

    def __radd__(self, other):
        return apply("add", _coerce(other, self), self)

    def __sub__(self, other):
        return apply("sub", self, _coerce(other, self))

    def __rsub__(self, other):
        return apply("sub", _coerce(other, self), self)

    def __mul__(self, other):
        return apply("mul", self, _coerce(other, self))

    def __rmul__(self, other):
        return apply("mul", _coerce(other, self), self)

    def __truediv__(self, other):
        return apply("div", self, _coerce(other, self))

    def __rtruediv__(self, other):
        return apply("div", _coerce(other, self), self)

    def __pow__(self, other):
        return apply("pow", self, _coerce(other, self))

    def __rpow__(self, other):
        return apply("pow", _coerce(other, self), self)

    def __matmul__(self, other):
        return apply("matmul", self, _coerce(other, self))

    def __rmatmul__(self, other):
        return apply("matmul", _coerce(other, self), self)

    def __neg__(self):
        return apply("neg", self)

    def __abs__(self):
        return apply("abs", self)

    def __getitem__(self, index):
        return apply("getitem", self, index=_plain_index(index))

    # ------------------------------------------------------------------ methods

    def exp(self):
        return apply("exp", self)

    def log(self):
        return apply("log", self)

    def sqrt(self):
        return apply("sqrt", self)

    def abs(self):
        return apply("abs", self)

    def sum(self, axis=None, keepdims: bool = False):
        return apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return apply("mean", self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return apply("max", self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False):
        return -apply("max", -self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply("reshape", self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return apply("transpose", self, axes=axes or None)

    def sigmoid(self):
        return apply("sigmoid", self)

    def tanh(self):
        return apply("tanh", self)

    def relu(self):
        return apply("relu", self)

    def softmax(self, axis: int = -1):
        return apply("softmax", self, axis=axis)

    def log_softmax(self, axis: int = -1):
        return apply("log_softmax", self, axis=axis)


class Parameter(Tensor):
    """A tensor that a :class:`~propagate.nn.Module` registers as a trainable parameter."""

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a Tensor, converting arrays and numbers without a gradient."""
    if isinstance(value, Tensor):
        return value
    return _coerce(value, like)


def _coerce(value, like: Tensor | None) -> Tensor:
    """Wrap a constant operand. A Python or NumPy number takes the dtype of the floating
    tensor it meets, as in PyTorch, so ``float32_tensor * np.float64(2.0)`` stays float32.
    Arrays keep their own dtype (the operation then promotes float32 with float64)."""
    if isinstance(value, Tensor):
        return value
    if (
        like is not None
        and isinstance(value, numbers.Real)
        and np.issubdtype(like.dtype, np.floating)
    ):
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(value)


def _plain_index(index):
    """Replace Tensor entries of an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(item.data if isinstance(item, Tensor) else item for item in index)
    return index


def apply(name: str, *inputs, **params) -> Tensor:
    """Run the primitive ``name`` on ``inputs`` and record it in the graph if needed.

    Inputs that are not Tensors are treated as constants.
    """
    prim = PRIMITIVES[name]
    tensors = tuple(as_tensor(x) for x in inputs)
    try:
        out, ctx = prim.forward(*(t.data for t in tensors), **params)
    except _AxisError as error:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ShapeError(
            f"{name}: {error} (input shapes {shapes}); pass an axis in [-ndim, ndim)"
        ) from None

    result = Tensor(out)
    if is_grad_enabled() and any(t.requires_grad for t in tensors):
        result._prim = prim
        result._ctx = ctx
        result._parents = tensors
        result._requires_grad = True
        if is_anomaly_enabled():
            result._origin = _caller_location()
    return result


def _caller_location() -> str:
    """Return "file:line" of the innermost stack frame outside propagate.nn."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "unknown location"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
