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


# Mistakes and edge cases found by review; run in process for speed.


def run_main(capsys, *args):
    from propagate.cli import main

    status = main(["grad", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def reject_constant(text):
    raise ValueError(f"JSON contains {text}")


@pytest.mark.parametrize(
    "args",
    [
        ["x*y", "--at", "x=10^400", "--at", "y=1"],
        ["x*y", "--at", "x=10^-400", "--at", "y=1"],
        ["x", "--at", "x=1", "--at", "x=2"],
        ["1/x", "--at", "x=0"],
        ["atan2(y, x)", "--at", "x=0", "--at", "y=0"],
        ["a = a + 1"],
        ["a = b; b = a"],
        ["exp(10^20*log(10))"],
        ["a = 9; b = a^a^a"],
        ["1" * 2000 + "*x"],
        ["log(x, 0)"],
    ],
)
def test_grad_mistake_one_line(capsys, args):
    status, _, err = run_main(capsys, *args)
    assert status == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_grad_at_outside_float64(capsys):
    _, _, err = run_main(capsys, "x", "--at", "x=10^400")
    assert "float64 range" in err


def test_grad_at_twice(capsys):
    _, _, err = run_main(capsys, "x", "--at", "x=1", "--at", "x=2")
    assert "given twice" in err


def test_grad_undefined_output_names_point(capsys):
    _, _, err = run_main(capsys, "1/x", "--at", "x=0")
    assert "undefined at x=0.0" in err


def test_grad_cycle_named(capsys):
    _, _, err = run_main(capsys, "a = c + x; b = a; c = b*2")
    assert "cycle a -> c -> b -> a" in err


def test_grad_self_reference_named(capsys):
    _, _, err = run_main(capsys, "a = a + 1")
    assert "uses itself" in err


def test_grad_wrt_repeated_once(capsys):
    status, out, _ = run_main(capsys, "x*y", "--wrt", "x,x")
    assert status == 0
    assert out.count("\n∂f/∂x = ") == 1


def test_grad_wrt_output_chain(capsys):
    _, out, _ = run_main(capsys, "a = x^2; b = a*3", "--wrt", "b")
    assert "chain rule: ∂b/∂b = 1\n" in out


def test_grad_undefined_entry_null(capsys):
    # d/dx x^y = y x^(y-1) = -4 at (-2, 2); d/dy x^y = x^y log(x) is complex for x < 0.
    status, out, _ = run_main(capsys, "pow(x, y)", "--json", "--at", "x=-2", "--at", "y=2")
    data = json.loads(out, parse_constant=reject_constant)
    assert status == 0
    assert data["value"]["x"] == pytest.approx(-4.0, rel=1e-15)
    assert data["value"]["y"] is None


def test_grad_undefined_entry_text(capsys):
    status, out, _ = run_main(capsys, "sqrt(x)", "--at", "x=0")
    assert status == 0
    assert "∂f/∂x = undefined" in out


def test_grad_overflow_json_valid(capsys):
    status, out, _ = run_main(capsys, "exp(x)", "--json", "--at", "x=1000")
    data = json.loads(out, parse_constant=reject_constant)
    assert status == 0
    assert data["value"]["x"] is None


def diamond_chain(levels):
    # Each level doubles the paths; written in x the output is only 2**levels*x.
    parts = ["a0 = x"]
    for i in range(1, levels + 1):
        parts += [f"b{i} = a{i - 1}", f"c{i} = a{i - 1}", f"a{i} = b{i} + c{i}"]
    return "; ".join(parts)


def test_grad_too_many_paths_text(capsys):
    # 2**14 = 16,384 paths, more than the 10,000 listed.
    status, out, _ = run_main(capsys, diamond_chain(14))
    assert status == 0
    assert "more than 10,000 paths, not listed" in out


def test_grad_too_many_paths_json(capsys):
    status, out, _ = run_main(capsys, diamond_chain(14), "--json")
    assert status == 0
    assert json.loads(out)["chain"]["x"] is None


def test_grad_deep_graph(capsys):
    # Nested 200 levels deep once written in x; the default recursion limit fails at about 150.
    parts = ["a0 = x", *[f"a{i} = sin(a{i - 1})" for i in range(1, 200)]]
    status, out, err = run_main(capsys, "; ".join(parts), "--at", "x=1")
    assert status == 0, err
    assert "∂f/∂x" in out or "∂a199/∂x" in out
