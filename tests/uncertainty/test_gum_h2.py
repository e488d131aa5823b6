"""The GUM H.2 resistance and reactance measurement from its readings.

Reference: JCGM 100:2008 (GUM), Annex H.2, Table H.4, which gives R = 127.732 ohm with
u = 0.071 ohm, X = 219.847 ohm with u = 0.295 ohm, Z = 254.260 ohm with u = 0.236 ohm,
and r(R, X) = -0.588, r(R, Z) = -0.485, r(X, Z) = 0.993. The GUM computes these by its
approach 1 (H.2.3): R, X and Z from each set of readings, then a Type A evaluation of the
five results. Approach 2 (H.2.4) propagates the means of the readings with their
correlations; the model's curvature moves u(X) to 0.2956 ohm there.
"""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from propagate.uncertainty import propagate_arrays, propagate_uncertainty, read_readings, type_a

READINGS = resources.files("propagate") / "data" / "gum_h2_readings.csv"
MODEL = {"R": "V/(I*1e-3)*cos(phi)", "X": "V/(I*1e-3)*sin(phi)", "Z": "V/(I*1e-3)"}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gum_h2.py"


@pytest.fixture(scope="module")
def result():
    readings = read_readings(READINGS)
    return propagate_uncertainty(MODEL, readings.quantities(), readings.correlation_pairs())


PUBLISHED = [("R", 127.732, 0.071), ("X", 219.847, 0.295), ("Z", 254.260, 0.236)]


@pytest.fixture(scope="module")
def approach_1():
    # Outputs per set of readings (uncertainties 0: only the values are used), then Type A.
    with open(READINGS, encoding="utf-8") as handle:
        data = np.loadtxt(handle, delimiter=",", skiprows=1)
    columns = {"V": data[:, 0], "I": data[:, 1], "phi": data[:, 2]}
    rows = propagate_arrays(MODEL, columns, {name: 0.0 for name in columns})
    return type_a(rows.values, rows.names)


@pytest.mark.parametrize(("name", "value", "std"), PUBLISHED)
def test_h2_approach_1(approach_1, name, value, std):
    i = approach_1.names.index(name)
    assert round(approach_1.means[i], 3) == value
    assert round(approach_1.stds[i], 3) == std


@pytest.mark.parametrize(("i", "j", "r"), [(0, 1, -0.588), (0, 2, -0.485), (1, 2, 0.993)])
def test_h2_approach_1_correlations(approach_1, i, j, r):
    assert round(approach_1.correlation[i, j], 3) == r


@pytest.mark.parametrize(("name", "value", "std"), PUBLISHED)
def test_h2_outputs(result, name, value, std):
    assert round(result[name].value, 3) == value
    # Within one unit of the last published digit (approach 2, see the module docstring).
    assert result[name].std == pytest.approx(std, abs=1e-3)


@pytest.mark.parametrize(
    ("i", "j", "r"),
    [(0, 1, -0.588), (0, 2, -0.485), (1, 2, 0.993)],
)
def test_h2_correlations(result, i, j, r):
    assert round(result.correlation[i, j], 3) == r


def test_h2_example_runs():
    run = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "127.732" in run.stdout


def test_h2_dof(result):
    # Approach 1 evaluates each output from the 5 sets of readings: 4 degrees of freedom.
    for name in MODEL:
        assert result[name].dof == pytest.approx(4.0)
