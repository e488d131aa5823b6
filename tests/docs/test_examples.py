"""Run every example script as a user would and check its exit status and key output.

examples/gum_h2.py is run by tests/uncertainty/test_gum_h2.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 120


def run_example(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_examples_all_tested():
    tested = {
        "chain_rule.py",
        "train_digits.py",
        "crosscheck.py",
        "vanishing_gradients.py",
        "network_uncertainty.py",
        "gum_h2.py",
    }
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts <= tested, f"examples without a test: {sorted(scripts - tested)}"


@pytest.fixture(scope="module")
def chain_rule_run(tmp_path_factory):
    return run_example("chain_rule.py", cwd=tmp_path_factory.mktemp("chain_rule"))


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    """Return the folder of a 1-epoch run of train_digits.py and its process."""
    cwd = tmp_path_factory.mktemp("train_digits")
    return cwd, run_example("train_digits.py", "--epochs", "1", "--out", "run", cwd=cwd)


@pytest.fixture(scope="module")
def vanishing_run(tmp_path_factory):
    return run_example(
        "vanishing_gradients.py", "--depth", "10", "--steps", "20",
        cwd=tmp_path_factory.mktemp("vanishing"),
    )


def test_chain_rule_matches_differences(chain_rule_run):
    assert chain_rule_run.returncode == 0, chain_rule_run.stderr
    largest = re.search(r"largest \|exact - central difference\|: (\S+)", chain_rule_run.stdout)
    assert float(largest[1]) < 1e-8


def test_chain_rule_prints_paths(chain_rule_run):
    assert "∂L/∂W1_0_0 = ∂L/∂a2_0 · ∂a2_0/∂z2_0" in chain_rule_run.stdout
    # ∂L/∂W1_0_0 of this network as docs/concepts.md computes it by hand with NumPy.
    assert "= -0.003948878   (central difference -0.003948878)" in chain_rule_run.stdout


def test_chain_rule_other_activation(tmp_path):
    run = run_example("chain_rule.py", "--activation", "tanh", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "2-2-1 tanh network" in run.stdout


def test_train_digits_reports_accuracy(trained_folder):
    cwd, run = trained_folder
    assert run.returncode == 0, run.stderr
    accuracy = float(re.search(r"test accuracy (\S+) after 1 epochs", run.stdout)[1])
    assert accuracy > 0.8
    assert (cwd / "run" / "checkpoint.npz").exists()


def test_train_digits_resumes(trained_folder):
    cwd, first = trained_folder
    assert first.returncode == 0, first.stderr
    resumed = run_example("train_digits.py", "--epochs", "2", "--out", "run", "--resume", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed run after epoch 1" in resumed.stdout
    assert "after 2 epochs" in resumed.stdout


def test_train_digits_resume_needs_out(tmp_path):
    run = run_example("train_digits.py", "--resume", cwd=tmp_path)
    assert run.returncode == 2
    assert "--resume needs --out" in run.stderr


def test_crosscheck_passes(tmp_path):
    run = run_example(
        "crosscheck.py", "--epochs", "1", "--hidden", "4", "--images", "1", "--digits", "30",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "engine (float64) vs exact reverse sweep (30 digits)" in run.stdout
    assert "engine gradient vs central differences and complex step" in run.stdout
    assert "all checks passed" in run.stdout


def test_vanishing_gradients_diagnosed(vanishing_run):
    assert vanishing_run.returncode == 0, vanishing_run.stderr
    sigmoid, relu = vanishing_run.stdout.split("== sigmoid")[1].split("== relu")
    assert "vanishing gradients" in sigmoid
    assert "no gradient-flow problems found" in relu


def test_vanishing_gradients_ratio(vanishing_run):
    ratios = dict(re.findall(r"(\w+): first layer / last layer = (\S+)", vanishing_run.stdout))
    assert float(ratios["sigmoid"]) < 0.01
    assert float(ratios["relu"]) > 0.1


def test_network_uncertainty_small_agrees(tmp_path):
    run = run_example(
        "network_uncertainty.py", "--pixel-std", "0.005", "--images", "2", "--epochs", "2",
        "--samples", "20000", cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    rows = re.findall(r"^\s+\d+\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+(\S+)$", run.stdout, re.MULTILINE)
    assert len(rows) == 2
    # Monte Carlo with 20000 draws estimates a standard deviation to about 0.5 %; first
    # order is exact in the limit of small u, so the ratio is close to 1.
    for ratio in rows:
        assert float(ratio) == pytest.approx(1.0, abs=0.2)
