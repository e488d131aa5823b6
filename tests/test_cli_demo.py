"""``propagate demo`` end to end: every step prints its headline and its key numbers."""

import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "propagate", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, out


def number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*(-?[0-9.]+(?:e-?[0-9]+)?)", text)
    assert match, f"{label!r} not found in output"
    return float(match.group(1))


def test_demo_prints_six_steps(demo_output):
    stdout, _ = demo_output
    headlines = re.findall(r"^== (\d)\. ", stdout, flags=re.MULTILINE)
    assert headlines == ["1", "2", "3", "4", "5", "6"]


def test_demo_chain_rule_matches_central_difference(demo_output):
    stdout, _ = demo_output
    exact = number_after("dL/dw =", stdout)
    central = number_after("(central difference", stdout)
    # Closed form at w=0.5, x=1.5, b=0.1, y=1: (σ(z) - y) σ(z) (1 - σ(z)) x with z = 0.85.
    sigma = 1 / (1 + 2.718281828459045**-0.85)
    assert exact == pytest.approx((sigma - 1) * sigma * (1 - sigma) * 1.5, rel=1e-9)
    assert central == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize(
    "name, value, std",
    # JCGM 100:2008, Annex H.2, Table H.4 (ohm). The demo propagates the means to first
    # order (the GUM's approach 2), so u(X) comes out as 0.296 where the table gives 0.295.
    [("R", 127.732, 0.071), ("X", 219.847, 0.296), ("Z", 254.260, 0.236)],
)
def test_demo_gum_values(demo_output, name, value, std):
    stdout, _ = demo_output
    row = re.search(rf"^{name}\s+([0-9.]+)\s+([0-9.]+)", stdout, flags=re.MULTILINE)
    assert row, f"no row for {name}"
    assert float(row.group(1)) == pytest.approx(value, abs=5e-4)
    assert float(row.group(2)) == pytest.approx(std, abs=5e-4)


def test_demo_training_accuracy(demo_output):
    stdout, out = demo_output
    assert number_after("test accuracy", stdout) >= 95.0
    assert (out / "checkpoint.npz").exists()
    assert (out / "monitor.jsonl").exists()


def test_demo_crosscheck_passes(demo_output):
    stdout, _ = demo_output
    assert re.search(r"^passed: largest relative error", stdout, flags=re.MULTILINE)
    assert number_after("largest relative error", stdout) <= 1e-10


def test_demo_diagnosis_healthy(demo_output):
    stdout, _ = demo_output
    assert "no gradient-flow problems found" in stdout


def test_demo_prediction_uncertainty(demo_output):
    stdout, _ = demo_output
    rows = re.findall(
        r"^image \d: label \d, predicted \d: first order p = ([0-9.]+) ± ([0-9.]+), "
        r"Monte Carlo p = ([0-9.]+) ± ([0-9.]+)",
        stdout,
        flags=re.MULTILINE,
    )
    assert len(rows) == 3
    for row in rows:
        for probability in (float(row[0]), float(row[2])):
            assert 0.0 <= probability <= 1.0
    gap = max(abs(float(row[1]) - float(row[3])) for row in rows)
    tolerance = float(re.search(r"in u\(p\) [0-9.]+ \(tolerance ([0-9.]+)", stdout).group(1))
    expected = "adequate" if gap <= tolerance else "not adequate"
    assert re.search(rf"^first order {expected}: ", stdout, flags=re.MULTILINE)


def test_demo_bad_epochs_exits_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "propagate", "demo", "--epochs", "0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--epochs" in result.stderr


def test_demo_writes_plots(demo_output):
    pytest.importorskip("matplotlib")
    _, out = demo_output
    pngs = sorted(out.glob("*.png"))
    assert pngs
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
