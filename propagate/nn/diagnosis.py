"""Diagnosis of gradient flow from monitor records: vanishing, exploding, dead, saturated, lr.

Every rule is a pure function of a list of :class:`~propagate.nn.monitor.StepRecord` objects
(or their dictionaries) and a :class:`Thresholds` object, so a diagnosis can be rerun on a
log long after training. Rules aggregate over steps with the median, so a few noisy steps
do not raise a finding and a persistent condition does. A healthy run yields no findings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from propagate.nn.monitor import (
    SIGMOID_SATURATION_MARGIN,
    TANH_SATURATION_LEVEL,
    StepRecord,
    encode_nonfinite,
)

SEVERITY_WARNING = "warning"
SEVERITY_CRITICAL = "critical"

VANISHING = "vanishing_gradients"
EXPLODING = "exploding_gradients"
DEAD_RELU = "dead_relu"
SATURATION = "saturation"
LR_TOO_LARGE = "learning_rate_too_large"
LR_TOO_SMALL = "learning_rate_too_small"

# Report order within a severity: causes before the symptoms they bring about.
KINDS = (EXPLODING, VANISHING, DEAD_RELU, SATURATION, LR_TOO_LARGE, LR_TOO_SMALL)

# Number of leading records whose median total gradient norm is the baseline for growth.
_BASELINE_RECORDS = 5

REMEDIES = {
    VANISHING: [
        "replace sigmoid or tanh by ReLU or leaky ReLU in the hidden layers",
        "initialise weights with He (ReLU) or Xavier (sigmoid, tanh) scaling instead of "
        "unit variance",
        "add batch or layer normalisation before the activations",
        "add residual connections so the gradient has a path around each block",
        "standardise the inputs to mean 0 and standard deviation 1",
    ],
    EXPLODING: [
        "clip the gradient norm (nn.clip_grad_norm_, propagate train --clip-norm)",
        "lower the learning rate",
        "initialise with smaller weights: He or Xavier scaling, and recurrent weights with "
        "spectral radius at most 1",
        "add batch or layer normalisation",
        "standardise the inputs to mean 0 and standard deviation 1",
    ],
    DEAD_RELU: [
        "use leaky ReLU or GELU, which pass a gradient for negative inputs",
        "lower the learning rate, since large steps push units into the inactive region",
        "initialise biases at zero and weights with He scaling",
        "add batch normalisation before the ReLU",
    ],
    SATURATION: [
        "standardise the inputs to mean 0 and standard deviation 1",
        "initialise weights with Xavier scaling so pre-activations stay near 0",
        "add batch or layer normalisation before the activation",
        "replace sigmoid or tanh by ReLU or leaky ReLU",
    ],
    LR_TOO_LARGE: [
        "lower the learning rate about tenfold",
        "use a schedule with warm-up or decay",
        "clip the gradient norm",
    ],
    LR_TOO_SMALL: [
        "raise the learning rate about tenfold",
        "use Adam, which scales each step to the gradient's running magnitude",
    ],
}


@dataclass(frozen=True)
class Thresholds:
    """Limits of the diagnosis rules.

    Attributes
    ----------
    vanishing_ratio : float
        Vanishing gradients when ||δ|| of the first layer divided by ||δ|| of the last
        layer is below this (median over steps; weight-gradient norms when δ was not
        recorded). δ_l = ∂L/∂z_l is the error that backpropagation carries to layer l, and
        the layer's weight gradient is δ_l times its input, so at 1e-2 the first layer gets
        a gradient about 100 times smaller than the last and, with one learning rate,
        learns about 100 times slower. A 10-layer sigmoid network with unit-variance
        weights is at about 2e-3 to 5e-3 on the digits data, a ReLU network with He
        initialisation at about 0.4.
    exploding_ratio : float
        Exploding gradients when, at any step, the δ ratio or the weight-gradient ratio is
        above this: the gradient grows by more than this factor on its way back to the
        first layer.
    exploding_growth : float
        Exploding gradients when the total gradient norm of a step exceeds this multiple of
        its median over the first five recorded steps.
    dead_fraction : float
        Dead ReLUs when more than this fraction of a layer's units output 0 on the whole
        batch (median over steps).
    saturated_fraction : float
        Saturation when more than this fraction of a layer's sigmoid or tanh outputs lie in
        the saturated range (median over steps).
    update_ratio_high, update_ratio_low : float
        Learning rate too large when some layer's update-to-weight ratio ||Δθ|| / ||θ||
        (median over steps) is above ``update_ratio_high``, too small when every layer
        that receives a gradient stays below ``update_ratio_low``. A healthy ratio is
        around 1e-3: each step changes the weights by about 0.1%.
    """

    vanishing_ratio: float = 1e-2
    exploding_ratio: float = 1e3
    exploding_growth: float = 1e3
    dead_fraction: float = 0.5
    saturated_fraction: float = 0.5
    update_ratio_high: float = 1e-1
    update_ratio_low: float = 1e-5

    def __post_init__(self):
        for name in (
            "vanishing_ratio",
            "exploding_ratio",
            "exploding_growth",
            "update_ratio_high",
            "update_ratio_low",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"threshold {name} must be a positive number, not {value}")
        for name in ("dead_fraction", "saturated_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"threshold {name} must lie in [0, 1), not {value}")


@dataclass
class Finding:
    """One problem found in the gradient flow.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    severity : str
        ``"warning"`` (training is slowed or partly wasted) or ``"critical"`` (training
        cannot work as it is).
    message : str
        One or two sentences that state the problem with its numbers and threshold.
    layers : list of str
        Names of the layers concerned, in forward order.
    steps : list of int
        First and last recorded step at which the condition held.
    evidence : dict
        The numbers behind the finding, named.
    remedies : list of str
        Standard remedies, most effective first.
    """

    kind: str
    severity: str
    message: str
    layers: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
    remedies: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Return the finding as JSON-ready types (NaN and infinity become strings)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "layers": list(self.layers),
            "steps": list(self.steps),
            "evidence": encode_nonfinite(dict(self.evidence)),
            "remedies": list(self.remedies),
        }


def _factor(value: float) -> str:
    return f"{value:,.0f}" if value < 1e6 else f"{value:.1e}"


def _as_records(records: Iterable) -> list[StepRecord]:
    return [r if isinstance(r, StepRecord) else StepRecord.from_dict(r) for r in records]


def _median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def _is_finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _step_span(steps: Sequence[int]) -> list[int]:
    return [min(steps), max(steps)] if steps else []


def _weight_grad(layer) -> float | None:
    return layer.weight_grad_norm if layer.weight_grad_norm is not None else layer.grad_norm


def _delta(layer) -> float | None:
    return layer.delta_norm


def _measured_ends(record: StepRecord, measure):
    """Return the first and last layer of ``record`` whose ``measure`` was recorded.

    Layers without the measure are skipped, so that a frozen layer, which has no δ and no
    gradient, does not hide the ratio of the layers that learn. Both are None when fewer
    than two layers have the measure.
    """
    measured = [layer for layer in record.layers if measure(layer) is not None]
    if len(measured) < 2:
        return None, None
    return measured[0], measured[-1]


def _depth_ratios(records: list[StepRecord], measure) -> tuple[list[float], list[int]]:
    """Return ``measure`` of the first layer over that of the last layer, per step.

    Steps where either value is zero or not finite are left out.
    """
    ratios, steps = [], []
    for record in records:
        first_layer, last_layer = _measured_ends(record, measure)
        if first_layer is None:
            continue
        first, last = measure(first_layer), measure(last_layer)
        if _is_finite(first) and _is_finite(last) and first > 0 and last > 0:
            ratios.append(first / last)
            steps.append(record.step)
    return ratios, steps


def _measured_order(records: list[StepRecord], attribute: str) -> list[str]:
    """Return the layer names, in forward order, that have ``attribute`` in some record."""
    order: list[str] = []
    for record in records:
        for layer in record.layers:
            if getattr(layer, attribute) is not None and layer.name not in order:
                order.append(layer.name)
    return order


def _median_per_layer(records: list[StepRecord], attribute: str) -> dict[str, float]:
    """Return, per layer name, the median of ``attribute`` over the records that have it."""
    values: dict[str, list[float]] = {}
    for record in records:
        for layer in record.layers:
            value = getattr(layer, attribute)
            if _is_finite(value):
                values.setdefault(layer.name, []).append(value)
    return {name: _median(found) for name, found in values.items()}


def _layer_order(records: list[StepRecord]) -> list[str]:
    order: list[str] = []
    for record in records:
        for name in record.layer_names():
            if name not in order:
                order.append(name)
    return order


def find_vanishing(records: list[StepRecord], thresholds: Thresholds) -> list[Finding]:
    """Find an error term δ that shrinks from the last layer back to the first.

    The ratio is taken between the δ norms of the first and the last layer where the
    monitor captured δ, and between their weight-gradient norms otherwise.
    """
    ratios, steps = _depth_ratios(records, _delta)
    attribute, what = "delta_norm", "error term δ = ∂L/∂z"
    if not ratios:
        ratios, steps = _depth_ratios(records, _weight_grad)
        attribute, what = "weight_grad_norm", "weight-gradient norm"
    if not ratios:
        return []
    ratio = _median(ratios)
    if ratio >= thresholds.vanishing_ratio:
        return []

    order = _measured_order(records, attribute)
    medians = _median_per_layer(records, attribute)
    last = medians.get(order[-1], math.nan)
    slow = [
        name
        for name in order[:-1]
        if medians.get(name, math.inf) < thresholds.vanishing_ratio * last
    ]
    severity = SEVERITY_CRITICAL if ratio < thresholds.vanishing_ratio**2 else SEVERITY_WARNING
    affected = [s for s, r in zip(steps, ratios, strict=True) if r < thresholds.vanishing_ratio]
    message = (
        f"vanishing gradients: the {what} of the first layer is {ratio:.2g} times that of "
        f"the last layer (median over {len(ratios)} steps), below the threshold "
        f"{thresholds.vanishing_ratio:g}, so the first layer learns about {_factor(1 / ratio)} "
        f"times slower than the last"
    )
    if len(slow) > 1:
        message += f"; {len(slow)} layers are below the threshold: {', '.join(slow)}"

    evidence = {
        "first_to_last_ratio": ratio,
        "measure": attribute,
        "min_ratio": min(ratios),
        "threshold": thresholds.vanishing_ratio,
        "layers": order,
        f"median_{attribute}_by_layer": [medians.get(name, math.nan) for name in order],
        "steps_affected": len(affected),
        "steps_measured": len(ratios),
    }
    grad_ratios, _ = _depth_ratios(records, _weight_grad)
    if grad_ratios and attribute != "weight_grad_norm":
        evidence["first_to_last_weight_grad_ratio"] = _median(grad_ratios)
    return [
        Finding(
            kind=VANISHING,
            severity=severity,
            message=message,
            layers=slow or [order[0]],
            steps=_step_span(affected),
            evidence=evidence,
            remedies=list(REMEDIES[VANISHING]),
        )
    ]


def _nonfinite_layer(record: StepRecord) -> str | None:
    for layer in record.layers:
        for value in (layer.weight_grad_norm, layer.bias_grad_norm, layer.delta_norm):
            if value is not None and not math.isfinite(value):
                return layer.name
    return None


def find_exploding(records: list[StepRecord], thresholds: Thresholds) -> list[Finding]:
    """Find gradients that grow across layers or steps, or become NaN or infinite."""
    reasons = []
    evidence: dict = {}
    layers: list[str] = []
    affected: list[int] = []

    nonfinite_steps = []
    first_bad_layer = None
    for record in records:
        layer = _nonfinite_layer(record)
        if layer is not None or not math.isfinite(record.loss):
            nonfinite_steps.append(record.step)
            if first_bad_layer is None:
                first_bad_layer = layer
    if nonfinite_steps:
        where = f" in layer {first_bad_layer}" if first_bad_layer else " in the loss"
        reasons.append(
            f"the loss or a gradient became NaN or infinite at step {nonfinite_steps[0]}{where} "
            f"({len(nonfinite_steps)} of {len(records)} recorded steps)"
        )
        evidence["first_nonfinite_step"] = nonfinite_steps[0]
        evidence["nonfinite_steps"] = len(nonfinite_steps)
        layers.extend([first_bad_layer] if first_bad_layer else [])
        affected.extend(nonfinite_steps)

    # A recurrent layer sums its weight gradient over time steps while δ at its output is
    # only the error arriving from above, so growth may show in either measure. One step
    # is enough: a single huge gradient can wreck the weights.
    for measure, what, key in (
        (_delta, "error term δ = ∂L/∂z", "delta"),
        (_weight_grad, "weight-gradient norm", "weight_grad"),
    ):
        ratios, ratio_steps = _depth_ratios(records, measure)
        above = [
            s for s, r in zip(ratio_steps, ratios, strict=True) if r > thresholds.exploding_ratio
        ]
        if not above:
            continue
        peak = max(ratios)
        reasons.append(
            f"the {what} of the first layer was up to {peak:.2g} times that of the last layer, "
            f"above the threshold {thresholds.exploding_ratio:g} in {len(above)} of the "
            f"{len(ratios)} steps where both had a nonzero gradient"
        )
        evidence[f"max_first_to_last_{key}_ratio"] = peak
        evidence[f"steps_{key}_ratio_above"] = len(above)
        layers.append(_measured_order(records, "delta_norm" if key == "delta" else
                                      "weight_grad_norm")[0])
        affected.extend(above)

    norms = [(r.step, r.grad_norm) for r in records if _is_finite(r.grad_norm)]
    if len(norms) > _BASELINE_RECORDS:
        baseline = _median([n for _, n in norms[:_BASELINE_RECORDS]])
        peak_step, peak = max(norms[_BASELINE_RECORDS:], key=lambda item: item[1])
        if baseline > 0 and peak > thresholds.exploding_growth * baseline:
            reasons.append(
                f"the total gradient norm grew from {baseline:.3g} over the first "
                f"{_BASELINE_RECORDS} recorded steps to {peak:.3g} at step {peak_step} "
                f"(factor {peak / baseline:.2g}, threshold {thresholds.exploding_growth:g})"
            )
            evidence["baseline_grad_norm"] = baseline
            evidence["peak_grad_norm"] = peak
            evidence["peak_step"] = peak_step
            affected.extend(s for s, n in norms[_BASELINE_RECORDS:]
                            if n > thresholds.exploding_growth * baseline)

    if not reasons:
        return []
    evidence["max_grad_norm"] = max((n for _, n in norms), default=math.nan)
    # Growth beyond the square of a threshold (1e6 by default) wrecks the weights in one
    # step, as a non-finite value does.
    growth = max(
        [v for k, v in evidence.items() if k.startswith("max_first_to_last")]
        + [evidence.get("peak_grad_norm", 0.0) / evidence.get("baseline_grad_norm", math.inf)]
    )
    huge = growth > max(thresholds.exploding_ratio, thresholds.exploding_growth) ** 2
    severity = SEVERITY_CRITICAL if nonfinite_steps or huge else SEVERITY_WARNING

    # Gradients are recorded before any clipping. When every step still changed the
    # weights by less than update_ratio_high of their norm, the explosion was contained.
    message = "exploding gradients: " + "; ".join(reasons)
    updates = [layer.update_ratio for record in records for layer in record.layers
               if _is_finite(layer.update_ratio)]
    if updates and not nonfinite_steps:
        largest_update = max(updates)
        evidence["max_update_ratio"] = largest_update
        if largest_update <= thresholds.update_ratio_high:
            message += (
                f". No step changed a layer's weights by more than {largest_update:.2g} of "
                f"their norm (limit {thresholds.update_ratio_high:g}), so the updates stayed "
                f"bounded, as gradient clipping makes them"
            )
            severity = SEVERITY_WARNING
    return [
        Finding(
            kind=EXPLODING,
            severity=severity,
            message=message,
            layers=list(dict.fromkeys(layers)),
            steps=_step_span(affected),
            evidence=evidence,
            remedies=list(REMEDIES[EXPLODING]),
        )
    ]


def _find_fraction(records, thresholds, attribute, limit, kind, noun) -> list[Finding]:
    medians = _median_per_layer(records, attribute)
    flagged = [name for name in _layer_order(records) if medians.get(name, 0.0) > limit]
    if not flagged:
        return []

    affected = [
        record.step
        for record in records
        if any(
            layer.name in flagged
            and _is_finite(getattr(layer, attribute))
            and getattr(layer, attribute) > limit
            for layer in record.layers
        )
    ]
    worst = max(medians[name] for name in flagged)
    severity = SEVERITY_CRITICAL if worst >= 0.99 else SEVERITY_WARNING
    detail = ", ".join(f"layer {name} {medians[name]:.0%}" for name in flagged)
    message = f"{noun} (median over steps: {detail}; threshold {limit:.0%})"
    return [
        Finding(
            kind=kind,
            severity=severity,
            message=message,
            layers=flagged,
            steps=_step_span(affected),
            evidence={
                "fraction_by_layer": {name: medians[name] for name in flagged},
                "threshold": limit,
                "steps_affected": len(affected),
            },
            remedies=list(REMEDIES[kind]),
        )
    ]


def find_dead_relu(records: list[StepRecord], thresholds: Thresholds) -> list[Finding]:
    """Find layers where most ReLU units output 0 on whole batches."""
    return _find_fraction(
        records,
        thresholds,
        "dead_fraction",
        thresholds.dead_fraction,
        DEAD_RELU,
        "dead ReLUs: share of units that output 0 on the whole batch",
    )


def find_saturation(records: list[StepRecord], thresholds: Thresholds) -> list[Finding]:
    """Find layers where most sigmoid or tanh outputs sit in the flat, saturated range."""
    kinds = {
        (layer.activation or "").lower()
        for record in records
        for layer in record.layers
        if layer.saturated_fraction is not None
    }
    # The monitor's saturated ranges bound the derivative: σ' = a(1 − a) < m(1 − m) for a
    # within m of 0 or 1, and tanh' = 1 − a² < 1 − l² for |a| > l.
    margin, level = SIGMOID_SATURATION_MARGIN, TANH_SATURATION_LEVEL
    ranges = {
        "sigmoid": f"sigmoid outputs (within {margin:g} of 0 or 1, where σ' < "
        f"{margin * (1 - margin):.2g})",
        "tanh": f"tanh outputs (|a| > {level:g}, where tanh' < {1 - level * level:.2g})",
    }
    recorded = [text for kind, text in ranges.items() if kind in kinds] or list(ranges.values())
    return _find_fraction(
        records,
        thresholds,
        "saturated_fraction",
        thresholds.saturated_fraction,
        SATURATION,
        f"saturation: share of saturated {' or '.join(recorded)}",
    )


def find_learning_rate(
    records: list[StepRecord], thresholds: Thresholds, skip_large: bool = False
) -> list[Finding]:
    """Judge the learning rate by the update-to-weight ratio ||Δθ|| / ||θ|| of each layer.

    Layers whose gradient is exactly zero at every step are left out, because no learning
    rate moves them (their cause is reported by the dead-ReLU rule). With ``skip_large``
    the too-large rule is skipped, for runs whose gradients explode: the remedies for
    exploding gradients already include a lower learning rate.
    """
    ratios = _median_per_layer(records, "update_ratio")
    grads = _median_per_layer(records, "grad_norm")
    moving = {name: value for name, value in ratios.items() if grads.get(name, 0.0) > 0}
    if not moving:
        return []
    steps = [r.step for r in records if any(_is_finite(x.update_ratio) for x in r.layers)]
    lr_values = [r.lr for r in records if _is_finite(r.lr)]
    lr_text = f" at learning rate {_median(lr_values):.3g}" if lr_values else ""

    findings = []
    high = {name: v for name, v in moving.items() if v > thresholds.update_ratio_high}
    if high and not skip_large:
        detail = ", ".join(f"{name} {value:.2g}" for name, value in high.items())
        findings.append(
            Finding(
                kind=LR_TOO_LARGE,
                severity=SEVERITY_WARNING,
                message=(
                    f"learning rate too large{lr_text}: each step changes the weights of "
                    f"{len(high)} layers by more than {thresholds.update_ratio_high:g} of their "
                    f"norm (median update-to-weight ratio: {detail}; healthy is about 1e-3)"
                ),
                layers=list(high),
                steps=_step_span(steps),
                evidence={"update_ratio_by_layer": high, "threshold": thresholds.update_ratio_high},
                remedies=list(REMEDIES[LR_TOO_LARGE]),
            )
        )

    largest = max(moving.values())
    if largest < thresholds.update_ratio_low:
        findings.append(
            Finding(
                kind=LR_TOO_SMALL,
                severity=SEVERITY_WARNING,
                message=(
                    f"learning rate too small{lr_text}: the largest median update-to-weight ratio "
                    f"of any layer is {largest:.2g}, below {thresholds.update_ratio_low:g} "
                    f"(healthy is about 1e-3), so training barely moves the weights"
                ),
                layers=list(moving),
                steps=_step_span(steps),
                evidence={
                    "update_ratio_by_layer": moving,
                    "threshold": thresholds.update_ratio_low,
                },
                remedies=list(REMEDIES[LR_TOO_SMALL]),
            )
        )
    return findings


def diagnose(records: Iterable, thresholds: Thresholds | None = None) -> list[Finding]:
    """Diagnose the gradient flow of a training run from its monitor records.

    Parameters
    ----------
    records : iterable of StepRecord or dict
        Records in step order, as written by :class:`~propagate.nn.monitor.Monitor` and
        read by :func:`~propagate.nn.monitor.read_log`.
    thresholds : Thresholds, optional
        Limits of the rules; the defaults are documented on :class:`Thresholds`.

    Returns
    -------
    list of Finding
        Critical findings first, and within one severity causes (exploding, vanishing)
        before symptoms; empty for a healthy run.
    """
    records = _as_records(records)
    thresholds = thresholds or Thresholds()
    if not records:
        return []

    findings = []
    dead = find_dead_relu(records, thresholds)
    exploding = find_exploding(records, thresholds)
    findings.extend(exploding)

    # A first layer with exactly zero gradient is a symptom of dead units, not of a
    # gradient that shrinks layer by layer, so it is reported once, as dead ReLUs.
    first_grads = [_weight_grad(r.layers[0]) for r in records if r.layers]
    first_is_zero = bool(first_grads) and all(g == 0 for g in first_grads if g is not None)
    if not (dead and first_is_zero):
        findings.extend(find_vanishing(records, thresholds))

    findings.extend(dead)
    findings.extend(find_saturation(records, thresholds))
    findings.extend(find_learning_rate(records, thresholds, skip_large=bool(exploding)))

    findings.sort(
        key=lambda finding: (finding.severity != SEVERITY_CRITICAL, KINDS.index(finding.kind))
    )
    return findings


def format_report(findings: Sequence[Finding], records: Sequence | None = None) -> str:
    """Format findings as a text report with one numbered block per finding."""
    span = ""
    if records:
        steps = [r.step if isinstance(r, StepRecord) else r["step"] for r in records]
        span = f" in {len(steps)} recorded steps ({min(steps)} to {max(steps)})"
    if not findings:
        return f"no gradient-flow problems found{span}"

    lines = [f"{len(findings)} gradient-flow problems found{span}:"]
    for number, finding in enumerate(findings, start=1):
        lines.append(f"{number}. [{finding.severity}] {finding.message}")
        if finding.steps:
            lines.append(f"   steps {finding.steps[0]} to {finding.steps[-1]}")
        lines.append("   remedies:")
        lines.extend(f"   - {remedy}" for remedy in finding.remedies)
    return "\n".join(lines)
