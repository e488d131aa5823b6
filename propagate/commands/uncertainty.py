"""The ``propagate uncertainty`` command: propagate input uncertainties through a model
given as text, by first order, second order or Monte Carlo."""

from __future__ import annotations

import argparse
import json
import math
import re

from propagate.errors import QuantityError
from propagate.uncertainty import (
    DEFAULT_SAMPLES,
    DISTRIBUTIONS,
    METHODS,
    Quantity,
    parse_value_uncertainty,
    propagate_uncertainty,
    read_readings,
)
from propagate.uncertainty.correlation import check_coefficient

_NAME = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")

_VAR_HELP = (
    "an input as NAME=VALUE±U, NAME=VALUE+/-U or NAME=VALUE(UU), e.g. V=4.9990(32); "
    "optional suffixes ,dof=N (degrees of freedom) and ,dist=normal|rectangular|"
    "triangular|t (with rectangular or triangular, U is the half-width a); repeat per input"
)

_EPILOG = """\
examples:
  propagate uncertainty "Z = V/I" --var V=5.000±0.010 --var I=0.0200±0.0001
  propagate uncertainty "R = V/(I*1e-3)*cos(phi)" "X = V/(I*1e-3)*sin(phi)" \\
      --readings gum_h2_readings.csv --method monte-carlo --seed 1

The readings CSV has one column per input and one row per simultaneous
observation. Each input becomes its mean with the standard deviation of the
mean and n-1 degrees of freedom, correlated as the means are. An output of
inputs from the same readings gets n-1 effective degrees of freedom from them.
Monte Carlo draws the readings' means from a multivariate t distribution with
n-1 degrees of freedom (JCGM 101:2008, 6.4.9; normal when n < 4).

With --json, infinite degrees of freedom are written as null, and each budget
share is a fraction of the output variance (the shares add up to 1)."""


_T_NOTE = """\
note: {names} are drawn from t distributions with their degrees of freedom nu
(JCGM 101:2008, 6.4.9, for the readings). A t draw has the standard deviation
u*sqrt(nu/(nu-2)), so the Monte Carlo u is larger than the first-order u, while
the intervals agree for a nearly linear model, because first order takes k
from the effective degrees of freedom."""


def add_parser(subparsers) -> None:
    """Register ``propagate uncertainty`` and its options."""
    parser = subparsers.add_parser(
        "uncertainty",
        help="propagate measurement uncertainty through a model (GUM, GUM Supplement 1)",
        description="Propagate standard uncertainties and correlations of the inputs\n"
        "to the outputs of a measurement model, with a budget per output.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    parser.add_argument(
        "model",
        nargs="+",
        metavar="[NAME=]EXPR",
        help="an output, e.g. 'Z = V/I'; an expression without a name is called y",
    )

    parser.add_argument("--var", action="append", default=[], metavar="SPEC", help=_VAR_HELP)
    parser.add_argument(
        "--corr",
        action="append",
        default=[],
        metavar="A,B=RHO",
        help="correlation coefficient in [-1, 1] between inputs A and B; repeat per pair",
    )
    parser.add_argument(
        "--readings",
        metavar="FILE.csv",
        help="CSV of repeated simultaneous readings evaluated by Type A (header: input names)",
    )

    parser.add_argument(
        "--method", choices=METHODS, default="linear", help="propagation method (default linear)"
    )
    parser.add_argument(
        "--samples",
        type=_whole_number,
        default=DEFAULT_SAMPLES,
        help=f"Monte Carlo draws, e.g. 200000 or 1e6 (default {DEFAULT_SAMPLES})",
    )
    parser.add_argument(
        "--level", type=float, default=0.95, help="coverage probability (default 0.95)"
    )
    parser.add_argument("--seed", type=int, default=None, help="Monte Carlo random seed")
    parser.add_argument(
        "--digits",
        type=int,
        default=2,
        help="significant digits (1 to 15) of the printed uncertainties and of the Monte "
        "Carlo check (default 2)",
    )

    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def _whole_number(text: str) -> int:
    """Parse a count such as ``200000`` or ``1e6`` for argparse."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}; give a whole number such as 200000 or 1e6"
        )
    return int(number)


def run(args) -> int:
    """Propagate and print the result; returns the exit status."""
    # float64 carries 15 to 17 significant digits, so more digits of u would be noise.
    if not 1 <= args.digits <= 15:
        raise QuantityError(f"--digits is {args.digits}; give an integer from 1 to 15")
    inputs: dict = {}
    pairs: dict = {}
    from_readings: set = set()
    if args.readings is not None:
        readings = read_readings(args.readings)
        # The distribution matters only for Monte Carlo, which draws readings from the t
        # distribution of JCGM 101 6.4.9 by default.
        distribution = None if args.method == "monte-carlo" else "normal"
        inputs.update(readings.quantities(distribution))
        pairs.update(readings.correlation_pairs())
        from_readings.update(readings.names)
    for spec in args.var:
        name, quantity = parse_var(spec)
        if name in inputs:
            raise QuantityError(
                f"input {name!r} is given twice (--var or --readings); give it once"
            )
        inputs[name] = quantity

    given: dict = {}
    for spec in args.corr:
        (a, b), rho = parse_corr(spec)
        pair = frozenset((a, b))
        if pair in given:
            raise QuantityError(
                f"--corr {spec!r}: the correlation between {a} and {b} is already given "
                f"by --corr {given[pair]!r}; give each pair once"
            )
        if a in from_readings and b in from_readings:
            raise QuantityError(
                f"--corr {spec!r}: the correlation between {a} and {b} comes from the "
                "readings; remove the --corr option"
            )
        given[pair] = spec
    for spec in given.values():
        (a, b), rho = parse_corr(spec)
        pairs[(a, b)] = rho

    result = propagate_uncertainty(
        list(args.model),
        inputs,
        pairs or None,
        method=args.method,
        level=args.level,
        samples=args.samples,
        seed=args.seed,
        digits=args.digits,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return 0
    print(format_report(result, args.digits))
    t_inputs = [name for name, q in inputs.items() if getattr(q, "distribution", "") == "t"]
    if args.method == "monte-carlo" and t_inputs:
        print()
        print(_T_NOTE.format(names=", ".join(t_inputs)))
    return 0


def parse_var(spec: str) -> tuple[str, Quantity]:
    """Parse ``NAME=VALUE±U[,dof=N][,dist=D]`` into a name and a Quantity."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise QuantityError(f"--var {spec!r}: write NAME=VALUE±U, e.g. V=4.9990±0.0032")
    text, *options = rest.split(",")
    value, uncertainty = parse_value_uncertainty(text, name=name)

    dof = math.inf
    distribution = "normal"
    for option in options:
        key, sep, setting = option.partition("=")
        key, setting = key.strip(), setting.strip()
        if key == "dof" and sep:
            try:
                dof = float(setting)
            except ValueError:
                raise QuantityError(f"--var {spec!r}: dof={setting!r} is not a number") from None
        elif key == "dist" and sep:
            if setting not in DISTRIBUTIONS:
                raise QuantityError(
                    f"--var {spec!r}: unknown distribution {setting!r}; use one of "
                    f"{', '.join(DISTRIBUTIONS)}"
                )
            distribution = setting
        else:
            raise QuantityError(
                f"--var {spec!r}: unknown option {option!r}; use dof=N or dist=NAME"
            )

    if distribution == "rectangular":
        return name, Quantity.rectangular(value, uncertainty, dof=dof, name=name)
    if distribution == "triangular":
        return name, Quantity.triangular(value, uncertainty, dof=dof, name=name)
    return name, Quantity(value, uncertainty, dof=dof, distribution=distribution, name=name)


def parse_corr(spec: str) -> tuple[tuple[str, str], float]:
    """Parse ``A,B=RHO`` into a pair of names and a coefficient in [-1, 1]."""
    names, sep, text = spec.partition("=")
    parts = [part.strip() for part in names.split(",")]
    if not sep or len(parts) != 2 or not all(_NAME.match(part) for part in parts):
        raise QuantityError(f"--corr {spec!r}: write A,B=RHO, e.g. V,I=-0.36")
    try:
        rho = float(text)
    except ValueError:
        raise QuantityError(f"--corr {spec!r}: {text.strip()!r} is not a number") from None
    return (parts[0], parts[1]), check_coefficient(rho, parts[0], parts[1])


def format_report(result, digits: int = 2) -> str:
    """Format a result as text: one block per output with its budget, then the output
    correlation matrix when there are several outputs."""
    lines = [f"method: {result.method}"]
    if "samples" in result.details:
        seed = result.details["seed"]
        seed_text = "" if seed is None else f", seed {seed}"
        lines[0] += f" ({result.details['samples']} draws{seed_text})"
    for output in result.outputs:
        lines.append("")
        lines.extend(_format_output(output, digits))
    if len(result.outputs) > 1:
        lines.append("")
        lines.append("output correlation:")
        width = max(len(name) for name in result.names)
        lines.append(" " * (width + 1) + " ".join(f"{name:>8}" for name in result.names))
        for name, row in zip(result.names, result.correlation, strict=True):
            lines.append(f"{name:>{width}} " + " ".join(f"{r:8.3f}" for r in row))
    return "\n".join(lines)


def _format_output(output, digits: int) -> list[str]:
    dof = "inf" if math.isinf(output.dof) else f"{output.dof:.1f}"
    low, high = output.interval
    lines = [
        f"{output.name} = {output.concise(digits)}  ({output.plus_minus(digits)})",
        f"  dof = {dof}, k = {output.k:.3f}, U = {output.expanded:.{digits + 1}g}, "
        f"{output.level * 100:.10g}% interval [{low:.6g}, {high:.6g}]",
    ]
    if "shortest_interval" in output.details:
        short = output.details["shortest_interval"]
        check = output.details["validation"]
        verdict = "adequate" if check["adequate"] else "not adequate"
        lines.append(f"  shortest interval [{short[0]:.6g}, {short[1]:.6g}]")
        lines.append(
            f"  first order {output.details['first_order']['value']:.6g} "
            f"± {output.details['first_order']['std']:.{digits}g}: {verdict} "
            f"(d_low {check['d_low']:.2g}, d_high {check['d_high']:.2g}, "
            f"delta {check['delta']:.2g})"
        )
        if not check.get("stable", True):
            lines.append(_unstable_line(check))
    lines.append(f"  {'input':<12} {'value':>12} {'u':>10} {'c':>12} {'|c| u':>10} {'share':>8}")
    for row in output.budget:
        lines.append("  " + _format_row(row))
    return lines


def _unstable_line(check: dict) -> str:
    errors = [check["error_low"], check["error_high"]]
    if None in errors:
        detail = "too few draws to estimate the error of the interval ends"
    else:
        detail = f"interval ends have standard errors {errors[0]:.2g}, {errors[1]:.2g} > delta/2"
    return f"  verdict uncertain: {detail}; use more --samples or fewer --digits"


def _format_row(row) -> str:
    def number(x, width, spec=".6g"):
        return f"{'-':>{width}}" if x is None else f"{x:>{width}{spec}}"

    return (
        f"{row.input:<12} {number(row.value, 12)} {number(row.std, 10, '.3g')} "
        f"{number(row.sensitivity, 12, '.5g')} {number(row.contribution, 10, '.3g')} "
        f"{row.share:>8.1%}"
    )
