"""The grad command through a subprocess: output, JSON keys and exit status 2 on mistakes."""

import json
import math
import subprocess
import sys

import pytest

NEURON = "z = w*x + b; a = sigmoid(z); L = (a - y)^2/2"


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "propagate", "grad", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_grad_text_shows_chain():
    result = run_cli(NEURON, "--wrt", "w")
    assert result.returncode == 0, result.stderr
    assert "∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w" in result.stdout


def test_grad_text_value():
    result = run_cli(
        NEURON, "--wrt", "w", "--at", "w=0.5", "--at", "x=2", "--at", "b=0.1", "--at", "y=1"
    )
    a = sigmoid(0.5 * 2 + 0.1)
    expected = (a - 1) * a * (1 - a) * 2
    assert result.returncode == 0, result.stderr
    assert repr(expected)[:12] in result.stdout


def test_grad_json_keys():
    result = run_cli(NEURON, "--wrt", "w,b", "--json")
    data = json.loads(result.stdout)
    assert set(data) == {"expression", "gradient", "chain"}
    assert set(data["gradient"]) == {"w", "b"}
    assert data["chain"]["w"] == [["a - y", "(1 - sigmoid(z))*sigmoid(z)", "x"]]


def test_grad_json_value():
    args = ["--at", "w=0.5", "--at", "x=2", "--at", "b=0.1", "--at", "y=1"]
    result = run_cli(NEURON, "--wrt", "w,b", "--json", *args)
    data = json.loads(result.stdout)
    a = sigmoid(1.1)
    assert set(data) == {"expression", "gradient", "chain", "value"}
    assert data["value"]["b"] == pytest.approx((a - 1) * a * (1 - a), rel=1e-14)
    assert data["value"]["w"] == pytest.approx(2 * (a - 1) * a * (1 - a), rel=1e-14)


def test_grad_single_expression_defaults_to_all_inputs():
    result = run_cli("x*sin(y)/z", "--json", "--at", "x=1", "--at", "y=0", "--at", "z=2")
    data = json.loads(result.stdout)
    assert list(data["gradient"]) == ["x", "y", "z"]
    assert data["gradient"]["y"] == "x*cos(y)/z"
    assert data["value"] == {"x": 0.0, "y": 0.5, "z": -0.0}


def test_grad_relu_at_zero_is_zero():
    data = json.loads(run_cli("relu(x)", "--json", "--at", "x=0").stdout)
    assert data["value"]["x"] == 0.0


def test_grad_diamond_paths():
    data = json.loads(run_cli("u = x^2; v = sin(x); L = u*v + x", "--json").stdout)
    assert len(data["chain"]["x"]) == 3


def test_grad_latex():
    result = run_cli(NEURON, "--wrt", "w", "--latex")
    assert result.returncode == 0, result.stderr
    assert r"\frac{\partial L}{\partial w}" in result.stdout
    assert r"\sigma" in result.stdout


def test_grad_value_expression():
    data = json.loads(run_cli("sin(x)", "--json", "--at", "x=pi/3").stdout)
    assert data["value"]["x"] == pytest.approx(0.5, rel=1e-15)


@pytest.mark.parametrize(
    "args",
    [
        ["x +"],
        ["__import__('os').system('id')"],
        ["foo(x)"],
        ["x*y", "--wrt", "q"],
        ["x*y", "--wrt", ","],
        ["x*y", "--at", "x"],
        ["x*y", "--at", "x=abc"],
        ["x*y", "--at", "x=1+"],
        ["x*y", "--at", "q=1"],
        ["x*y", "--at", "x=1"],
        ["a = x; b + y; c = a"],
        ["a = x; a = y"],
        [""],
    ],
)
def test_grad_user_mistake_exits_2(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_grad_missing_value_names_input():
    result = run_cli("x*y", "--at", "x=1")
    assert "missing value for 'y'" in result.stderr
