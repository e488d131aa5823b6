"""The ``propagate uncertainty`` command through a subprocess: output, JSON keys, exit 2."""

import json
import subprocess
import sys
from importlib import resources

import pytest

READINGS = str(resources.files("propagate") / "data" / "gum_h2_readings.csv")
H2 = ["R = V/(I*1e-3)*cos(phi)", "X = V/(I*1e-3)*sin(phi)", "Z = V/(I*1e-3)"]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "propagate", "uncertainty", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def reject_constant(name):
    raise ValueError(f"JSON contains {name}")


def load(stdout):
    return json.loads(stdout, parse_constant=reject_constant)


def test_text_output():
    result = run_cli(*H2, "--readings", READINGS)
    assert result.returncode == 0, result.stderr
    assert "R = 127.732(71)" in result.stdout
    assert "127.732 ± 0.071" in result.stdout
    assert "V,I" in result.stdout


def test_json_keys():
    result = run_cli("Z = V/I", "--var", "V=5.000±0.010", "--var", "I=0.0200(1)", "--json")
    assert result.returncode == 0, result.stderr
    data = load(result.stdout)
    assert {"method", "outputs", "covariance", "correlation"} <= set(data)
    output = data["outputs"][0]
    assert {"value", "std", "dof", "k", "expanded", "interval", "budget"} <= set(output)
    row = output["budget"][0]
    assert {"input", "value", "std", "sensitivity", "contribution", "share"} <= set(row)


def test_json_infinite_dof_null():
    data = load(run_cli("V/I", "--var", "V=5±0.01", "--var", "I=2+/-0.01", "--json").stdout)
    assert data["outputs"][0]["dof"] is None


def test_json_matrices_in_output_order():
    data = load(run_cli(*H2, "--readings", READINGS, "--json").stdout)
    assert [o["name"] for o in data["outputs"]] == ["R", "X", "Z"]
    assert len(data["correlation"]) == 3
    assert round(data["correlation"][0][1], 3) == -0.588
    assert data["covariance"][1][1] == pytest.approx(data["outputs"][1]["std"] ** 2)


def test_json_monte_carlo():
    result = run_cli(
        *H2,
        "--readings",
        READINGS,
        "--method",
        "monte-carlo",
        "--samples",
        "20000",
        "--seed",
        "4",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = load(result.stdout)
    assert data["method"] == "monte-carlo"
    output = data["outputs"][0]
    assert len(output["shortest_interval"]) == 2
    assert isinstance(output["validation"]["adequate"], bool)


def test_corr_option():
    args = ["A + B", "--var", "A=1.0±0.3", "--var", "B=2.0±0.4", "--json"]
    data = load(run_cli(*args, "--corr", "A,B=0.5").stdout)
    assert data["outputs"][0]["std"] ** 2 == pytest.approx(0.09 + 0.16 + 0.12)


def test_var_suffixes():
    result = run_cli("T", "--var", "T=20.0±0.5,dist=rectangular,dof=12", "--json")
    assert result.returncode == 0, result.stderr
    output = load(result.stdout)["outputs"][0]
    assert output["std"] == pytest.approx(0.5 / 3**0.5)
    assert output["dof"] == pytest.approx(12)


@pytest.mark.parametrize(
    "args",
    [
        ["V/", "--var", "V=1±0.1"],
        ["V/I", "--var", "V=1±0.1"],
        ["V", "--var", "V=1±abc"],
        ["V", "--var", "V"],
        ["A+B", "--var", "A=1±0.1", "--var", "B=1±0.1", "--corr", "A,B=1.5"],
        ["A+B", "--var", "A=1±0.1", "--var", "B=1±0.1", "--corr", "A=0.5"],
        ["V", "--readings", "/nonexistent/readings.csv"],
        ["V", "--var", "V=1±0.1", "--level", "1.5"],
        ["V", "--var", "V=1±0.1", "--method", "monte-carlo", "--samples", "3"],
        ["V", "--var", "V=1±-0.1"],
        ["V", "--var", "V=1±0.1,dof=0"],
        ["V", "--var", "V=1±0.1,dist=cauchy"],
    ],
)
def test_user_errors_exit_2(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_non_numeric_csv_exit_2(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("V,I\n5.0,19.6\n5.1,x\n", encoding="utf-8")
    result = run_cli("V/I", "--readings", str(path))
    assert result.returncode == 2
    assert "'x'" in result.stderr
