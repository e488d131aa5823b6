"""Neural-network functions as sympy classes that own their derivatives and stable NumPy code.

Each class defines its derivative (``fdiff``), its exact value at numbers (``eval``), its
arbitrary-precision value through mpmath (``_eval_evalf``), its text and LaTeX forms and the
NumPy code it compiles to (``_numpycode``). The conventions at points where a derivative does
not exist are chosen here once:

- ``relu'(0) = 0`` (``relu_grad``), as PyTorch and JAX;
- ``leaky_relu'(0)`` is the negative slope (default 0.01), as PyTorch;
- ``abs'(0) = sign(0) = 0`` (sympy's own ``Abs`` and ``sign`` already do this);
- at a tie of ``maximum`` or ``minimum`` the derivative is split evenly among the tied
  arguments (``tie_share``), as ``torch.amax`` and JAX.

sympy's ``Heaviside`` is not used because ``Heaviside(0)`` is 1/2.
"""

from __future__ import annotations

import mpmath
import sympy
from sympy import Function, Rational, S

DEFAULT_LEAKY_SLOPE = Rational(1, 100)


def _numpy_names(printer):
    """Return a function that formats ``name`` as the printer's NumPy function ``name``.

    ``_module_format`` also records the import, so ``sympy.lambdify`` works with these
    classes as well as :func:`propagate.symbolic.compile_graph`.
    """
    return lambda name: printer._module_format(f"{printer._module}.{name}")


class _NumericFunction(Function):
    """Base class: evalf through an mpmath formula given by ``_mpmath``."""

    def _mpmath(self, *args):
        raise NotImplementedError

    def _eval_evalf(self, prec):
        values = []
        for arg in self.args:
            value = arg._evalf(prec)
            if not value.is_Number:
                return None
            values.append(value)
        with mpmath.workprec(prec):
            result = self._mpmath(
                *[mpmath.mpf(sympy.Float(v, precision=prec)._mpf_) for v in values]
            )
            result = mpmath.mpf(result)
        return sympy.Float._new(result._mpf_, prec)

    def _latex(self, printer, exp=None):
        name = self._latex_name
        args = ", ".join(printer._print(arg) for arg in self.args)
        if exp is not None:
            return rf"{name}^{{{exp}}}\left({args}\right)"
        return rf"{name}\left({args}\right)"

    _latex_name = r"\operatorname{f}"

    def _eval_is_extended_real(self):
        return all(arg.is_extended_real for arg in self.args) or None


class sigmoid(_NumericFunction):
    """Logistic sigmoid ``σ(x) = 1 / (1 + exp(-x))``; ``σ'(x) = σ(x)(1 - σ(x))``.

    Compiles to ``exp(-logaddexp(0, -x))``, which neither overflows nor loses relative
    accuracy at large ``|x|``.
    """

    nargs = 1
    _latex_name = r"\sigma"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return S.Half
        if x is S.Infinity:
            return S.One
        if x is S.NegativeInfinity:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _mpmath(self, x):
        return 1 / (1 + mpmath.exp(-x))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_is_positive(self):
        return self.args[0].is_extended_real or None

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        np = _numpy_names(printer)
        return f"{np('exp')}(-{np('logaddexp')}(0, -({x})))"


class relu_grad(_NumericFunction):
    """Derivative of ``relu``: 1 for ``x > 0`` and 0 for ``x <= 0`` (so 0 at 0, as PyTorch)."""

    nargs = 1
    _latex_name = r"\operatorname{relu}'"

    @classmethod
    def eval(cls, x):
        if x.is_extended_positive:
            return S.One
        if x.is_extended_nonpositive:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return S.Zero

    def _mpmath(self, x):
        return mpmath.mpf(1) if x > 0 else mpmath.mpf(0)

    def _eval_is_nonnegative(self):
        return self.args[0].is_extended_real or None

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        np = _numpy_names(printer)
        # A NaN fails both comparisons and stays NaN.
        return f"{np('where')}(({x}) > 0, 1.0, {np('where')}(({x}) <= 0, 0.0, {np('nan')}))"


class relu(_NumericFunction):
    """Rectified linear unit ``max(x, 0)``; its derivative is ``relu_grad`` (0 at 0)."""

    nargs = 1
    _latex_name = r"\operatorname{relu}"

    @classmethod
    def eval(cls, x):
        if x.is_extended_nonnegative:
            return x
        if x.is_extended_nonpositive:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        return relu_grad(self.args[0])

    def _mpmath(self, x):
        return x if x > 0 else mpmath.mpf(0)

    def _eval_is_nonnegative(self):
        return self.args[0].is_extended_real or None

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        np = _numpy_names(printer)
        # Same values as where(x > 0, x, 0), but a NaN input stays NaN.
        return f"{np('maximum')}({x}, 0.0)"


class leaky_relu_grad(_NumericFunction):
    """Derivative of ``leaky_relu``: 1 for ``x > 0`` and the slope for ``x <= 0``."""

    nargs = 2
    _latex_name = r"\operatorname{leaky\_relu}'"

    @classmethod
    def eval(cls, x, slope):
        if x.is_extended_positive:
            return S.One
        if x.is_extended_nonpositive:
            return slope
        return None

    def fdiff(self, argindex=1):
        if argindex == 1:
            return S.Zero
        return 1 - relu_grad(self.args[0])

    def _mpmath(self, x, slope):
        return mpmath.mpf(1) if x > 0 else slope

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        slope = printer._print(self.args[1])
        np = _numpy_names(printer)
        return f"{np('where')}(({x}) > 0, 1.0, {np('where')}(({x}) <= 0, {slope}, {np('nan')}))"


class leaky_relu(_NumericFunction):
    """Leaky ReLU: ``x`` for ``x > 0`` and ``slope * x`` otherwise (default slope 1/100).

    ``leaky_relu(x)`` is stored as ``leaky_relu(x, 1/100)``, so the slope always prints.
    """

    nargs = (1, 2)
    _latex_name = r"\operatorname{leaky\_relu}"

    @classmethod
    def eval(cls, x, slope=None):
        if slope is None:
            return cls(x, DEFAULT_LEAKY_SLOPE)
        if x.is_extended_positive:
            return x
        if x.is_extended_nonpositive:
            return slope * x
        return None

    def fdiff(self, argindex=1):
        x, slope = self.args
        if argindex == 1:
            return leaky_relu_grad(x, slope)
        # d/dslope of slope * min(x, 0)
        return -relu(-x)

    def _mpmath(self, x, slope):
        return x if x > 0 else slope * x

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        slope = printer._print(self.args[1])
        np = _numpy_names(printer)
        return f"{np('where')}(({x}) > 0, {x}, ({slope})*({x}))"


class softplus(_NumericFunction):
    """Softplus ``log(1 + exp(x))``; its derivative is ``sigmoid``.

    Compiles to ``logaddexp(0, x)``, which does not overflow at large ``x``.
    """

    nargs = 1
    _latex_name = r"\operatorname{softplus}"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sympy.log(2)
        return None

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _mpmath(self, x):
        return mpmath.log1p(mpmath.exp(x)) if x < 0 else x + mpmath.log1p(mpmath.exp(-x))

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))

    def _eval_is_positive(self):
        return self.args[0].is_extended_real or None

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        np = _numpy_names(printer)
        return f"{np('logaddexp')}(0, {x})"


class gelu(_NumericFunction):
    """Gaussian error linear unit in its exact form ``x Φ(x) = x (1 + erf(x/√2)) / 2``.

    The derivative is ``Φ(x) + x φ(x)`` with φ the standard normal density.
    """

    nargs = 1
    _latex_name = r"\operatorname{GELU}"

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return S.Zero
        return None

    def fdiff(self, argindex=1):
        x = self.args[0]
        cdf = (1 + sympy.erf(x / sympy.sqrt(2))) / 2
        pdf = sympy.exp(-(x**2) / 2) / sympy.sqrt(2 * sympy.pi)
        return cdf + x * pdf

    def _mpmath(self, x):
        return x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2

    def _eval_rewrite_as_erf(self, x, **kwargs):
        return x * (1 + sympy.erf(x / sympy.sqrt(2))) / 2

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        erf = printer._module_format("scipy.special.erf")
        np = _numpy_names(printer)
        return f"(0.5*({x})*(1 + {erf}(({x})/{np('sqrt')}(2))))"


def _all_numbers(args) -> bool:
    return all(arg.is_Number and arg.is_extended_real for arg in args)


class tie_share(_NumericFunction):
    """Share of the derivative of a max (or min) taken by one argument.

    ``tie_share(sense, t, x1, ..., xn)`` is ``1/k`` when ``t`` equals the extreme value of
    ``x1..xn`` and ``k`` of them tie there, and 0 otherwise. ``sense`` is 1 for the maximum
    and -1 for the minimum.
    """

    _latex_name = r"\operatorname{share}"

    @classmethod
    def eval(cls, sense, target, *args):
        if not _all_numbers((target, *args)):
            return None
        extreme = max(args) if sense == 1 else min(args)
        if target != extreme:
            return S.Zero
        return Rational(1, sum(1 for arg in args if arg == extreme))

    def fdiff(self, argindex=1):
        return S.Zero

    def _eval_evalf(self, prec):
        values = [arg.evalf(mpmath.libmp.prec_to_dps(prec)) for arg in self.args]
        if not _all_numbers(values):
            return None
        result = tie_share(*values)
        return result.evalf(mpmath.libmp.prec_to_dps(prec))

    def _numpycode(self, printer):
        sense, target, *args = self.args
        np = _numpy_names(printer)
        reduce = f"{np('maximum')}" if sense == 1 else f"{np('minimum')}"
        printed = [printer._print(arg) for arg in args]
        extreme = printed[0]
        for item in printed[1:]:
            extreme = f"{reduce}({extreme}, {item})"
        # numpy adds booleans as a logical or, so each comparison is made a float first.
        count = " + ".join(f"1.0*{np('equal')}({item}, {extreme})" for item in printed)
        return f"(1.0*{np('equal')}({printer._print(target)}, {extreme})/({count}))"


class _Extreme(_NumericFunction):
    """Base of ``maximum`` and ``minimum`` of two or more arguments."""

    _sense = 1

    @classmethod
    def eval(cls, *args):
        if len(args) < 2:
            raise TypeError(f"{cls.__name__} takes at least 2 arguments ({len(args)} given)")
        if _all_numbers(args):
            return max(args) if cls._sense == 1 else min(args)
        return None

    def fdiff(self, argindex=1):
        return tie_share(self._sense, self.args[argindex - 1], *self.args)

    def _mpmath(self, *args):
        return max(args) if self._sense == 1 else min(args)

    def _numpycode(self, printer):
        np = _numpy_names(printer)
        reduce = f"{np('maximum')}" if self._sense == 1 else f"{np('minimum')}"
        printed = [printer._print(arg) for arg in self.args]
        result = printed[0]
        for item in printed[1:]:
            result = f"{reduce}({result}, {item})"
        return result


class maximum(_Extreme):
    """Maximum of two or more arguments; at a tie the derivative is split evenly.

    Prints as ``max(...)``, the name the parser accepts.
    """

    _sense = 1
    _latex_name = r"\max"

    def _sympystr(self, printer):
        return "max(" + ", ".join(printer._print(arg) for arg in self.args) + ")"


class minimum(_Extreme):
    """Minimum of two or more arguments; at a tie the derivative is split evenly.

    Prints as ``min(...)``, the name the parser accepts.
    """

    _sense = -1
    _latex_name = r"\min"

    def _sympystr(self, printer):
        return "min(" + ", ".join(printer._print(arg) for arg in self.args) + ")"


class logsumexp(_NumericFunction):
    """``log(Σ exp(x_i))`` of two or more arguments; ∂/∂x_i is the softmax ``exp(x_i - lse)``.

    Compiles to nested ``logaddexp``, which subtracts the larger argument before taking the
    exponential, so it does not overflow.
    """

    _latex_name = r"\operatorname{logsumexp}"

    @classmethod
    def eval(cls, *args):
        if len(args) < 2:
            raise TypeError(f"logsumexp takes at least 2 arguments ({len(args)} given)")
        return None

    def fdiff(self, argindex=1):
        return sympy.exp(self.args[argindex - 1] - self)

    def _mpmath(self, *args):
        largest = max(args)
        return largest + mpmath.log(mpmath.fsum(mpmath.exp(arg - largest) for arg in args))

    def _numpycode(self, printer):
        np = _numpy_names(printer)
        printed = [printer._print(arg) for arg in self.args]
        result = printed[0]
        for item in printed[1:]:
            result = f"{np('logaddexp')}({result}, {item})"
        return result


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "softplus": softplus,
    "gelu": gelu,
    "tanh": sympy.tanh,
}
