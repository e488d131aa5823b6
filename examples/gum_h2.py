"""GUM H.2: simultaneous resistance and reactance measurement, from the raw readings.

JCGM 100:2008, Annex H.2, measures the amplitude V of an alternating potential difference,
the amplitude I of the current (in mA) and the phase-shift angle phi five times
simultaneously. The resistance R, reactance X and impedance Z are

    R = V/I cos(phi),  X = V/I sin(phi),  Z = V/I

with I converted to amperes. The GUM gives two approaches. Approach 1 (H.2.3) computes R,
X and Z from each set of readings and evaluates the five results by Type A. Approach 2
(H.2.4) takes the means of the readings with their standard deviations of the mean and
the correlations between the means (Type A), and propagates them to first order. This
script does both and prints them next to the values that the GUM publishes in Table H.4,
which come from approach 1. Both approaches give 4 degrees of freedom, one fewer than the
5 sets of readings, because every output rests on the same readings.

Run: python examples/gum_h2.py
"""

from pathlib import Path

import numpy as np

import propagate
from propagate.uncertainty import propagate_arrays, read_readings, type_a

READINGS = Path(__file__).with_name("gum_h2_readings.csv")

MODEL = {
    "R": "V/(I*1e-3)*cos(phi)",
    "X": "V/(I*1e-3)*sin(phi)",
    "Z": "V/(I*1e-3)",
}

# JCGM 100:2008, Annex H.2, Table H.4 (ohm).
PUBLISHED = {
    "R": (127.732, 0.071),
    "X": (219.847, 0.295),
    "Z": (254.260, 0.236),
}
PUBLISHED_CORRELATION = {("R", "X"): -0.588, ("R", "Z"): -0.485, ("X", "Z"): 0.993}


def approach_1():
    """Return the Type A evaluation of R, X and Z computed from each set of readings."""
    data = np.loadtxt(READINGS, delimiter=",", skiprows=1)
    columns = {"V": data[:, 0], "I": data[:, 1], "phi": data[:, 2]}
    rows = propagate_arrays(MODEL, columns, {name: 0.0 for name in columns})
    return type_a(rows.values, rows.names)


def approach_2():
    """Return the first-order propagation of the means of the readings."""
    readings = read_readings(READINGS)
    return propagate.uncertainty(MODEL, readings.quantities(), readings.correlation_pairs())


def main() -> None:
    first = approach_1()
    second = approach_2()

    print("GUM H.2 from the readings (ohm); value, standard uncertainty, degrees of freedom")
    print(f"{'':3} {'approach 1':>23}   {'approach 2':>23}   {'GUM Table H.4':>19}")
    for i, (name, (value, std)) in enumerate(PUBLISHED.items()):
        output = second[name]
        print(
            f"{name:3} {first.means[i]:10.3f} {first.stds[i]:8.3f} {first.dof:4d}   "
            f"{output.value:10.3f} {output.std:8.3f} {output.dof:4.1f}   "
            f"{value:10.3f} {std:8.3f}"
        )

    print()
    print(f"{'':6} {'approach 1':>10} {'approach 2':>10} {'GUM':>7}")
    index = {name: i for i, name in enumerate(second.names)}
    for (a, b), published in PUBLISHED_CORRELATION.items():
        i, j = index[a], index[b]
        print(
            f"r({a},{b}) {first.correlation[i, j]:10.3f} {second.correlation[i, j]:10.3f} "
            f"{published:7.3f}"
        )


if __name__ == "__main__":
    main()
