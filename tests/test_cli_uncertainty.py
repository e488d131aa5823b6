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
        ["e*2", "--var", "e=1±0.1"],
        ["pi*x", "--var", "pi=3±0.1", "--var", "x=1±0.1"],
        ["V", "--var", "V=1±0.1", "--method", "monte-carlo", "--samples", str(10**14)],
        ["A+B", "--var", "A=1±0.1", "--var", "B=1±0.1", "--corr", "A,B=0.5", "--corr", "B,A=0.4"],
        ["V/I", "--readings", READINGS, "--corr", "V,I=0.1"],
        ["V", "--readings", ""],
        ["V", "--var", "V=1±0.1", "--digits", "100"],
        ["V", "--var", "V=1±0.1", "--method", "monte-carlo", "--seed", "-1"],
        ["V", "--var", "V=1±0.1", "--method", "monte-carlo", "--samples", "1.5"],
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


def test_unicode_minus():
    data = load(run_cli("V", "--var", "V=\u22121.5±0.1", "--json").stdout)
    assert data["outputs"][0]["value"] == -1.5


def test_second_order_abs():
    result = run_cli("abs(V)", "--var", "V=0.5±0.1", "--method", "second-order", "--json")
    assert result.returncode == 0, result.stderr
    assert load(result.stdout)["outputs"][0]["std"] == pytest.approx(0.1)


def test_json_documented_keys():
    data = load(run_cli(*H2, "--readings", READINGS, "--json").stdout)
    assert {"method", "outputs", "covariance", "correlation"} <= set(data)
    for output in data["outputs"]:
        assert {"value", "std", "dof", "k", "expanded", "interval", "budget"} <= set(output)
        for row in output["budget"]:
            assert {"input", "value", "std", "sensitivity", "contribution", "share"} <= set(row)
        assert sum(row["share"] for row in output["budget"]) == pytest.approx(1.0)


def test_readings_dof_four():
    # GUM H.2: R, X and Z rest on 5 sets of readings, so 4 degrees of freedom.
    data = load(run_cli(*H2, "--readings", READINGS, "--json").stdout)
    assert [output["dof"] for output in data["outputs"]] == pytest.approx([4.0, 4.0, 4.0])


def test_readings_monte_carlo_adequate():
    # With t-distributed readings the Monte Carlo intervals agree with first order
    # (k from 4 degrees of freedom) to one significant digit of u.
    args = [*H2, "--readings", READINGS, "--method", "monte-carlo", "--seed", "2"]
    data = load(run_cli(*args, "--digits", "1", "--json").stdout)
    for output in data["outputs"]:
        assert output["validation"]["adequate"] is True, output["name"]


def test_readings_monte_carlo_note():
    args = [*H2, "--readings", READINGS, "--method", "monte-carlo", "--samples", "1000"]
    assert "t distributions" in run_cli(*args, "--seed", "1").stdout


def test_seed_reproducible():
    args = ["exp(A)", "--var", "A=0.1±0.3", "--method", "monte-carlo", "--samples", "5000"]
    first = run_cli(*args, "--seed", "7", "--json").stdout
    assert first == run_cli(*args, "--seed", "7", "--json").stdout
    assert first != run_cli(*args, "--seed", "8", "--json").stdout


def test_level_label():
    result = run_cli("V", "--var", "V=1±0.1", "--level", "0.9999999")
    assert "99.99999% interval" in result.stdout


def test_readings_byte_order_mark(tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("V,I\n5.0,19.6\n5.1,19.8\n5.2,19.7\n", encoding="utf-8-sig")
    result = run_cli("V/I", "--readings", str(path))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"\xff\xfeV,I\n", "invalid UTF-8"), (b"V;I\n1;2\n3;4\n", "'V;I' is not a valid")],
)
def test_bad_readings_file_exit_2(tmp_path, content, fragment):
    path = tmp_path / "readings.csv"
    path.write_bytes(content)
    result = run_cli("V/I", "--readings", str(path))
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_samples_scientific_notation():
    args = ["V", "--var", "V=1±0.1", "--method", "monte-carlo", "--seed", "1", "--json"]
    result = run_cli(*args, "--samples", "1e4")
    assert result.returncode == 0, result.stderr
    assert load(result.stdout)["samples"] == 10_000


def test_unstable_verdict_explained():
    args = ["A", "--var", "A=1±0.3", "--method", "monte-carlo", "--samples", "100"]
    assert "verdict uncertain" in run_cli(*args, "--seed", "1").stdout
