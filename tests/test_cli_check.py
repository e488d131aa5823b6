"""``propagate check`` end to end: table, JSON, exit statuses 0, 1 and 2."""

import json
import subprocess
import sys

import pytest

from propagate.cli import build_parser, main
from propagate.nn.ops.activation import Tanh


def run_check(*args):
    return subprocess.run(
        [sys.executable, "-m", "propagate", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_default_passes():
    result = run_check()
    assert result.returncode == 0, result.stderr
    assert "network 4-8-3, tanh, cross-entropy loss" in result.stdout
    assert "passed" in result.stdout
    assert "0.weight" in result.stdout


def test_json_report():
    result = run_check("--layers", "3,5,5,2", "--layernorm", "--residual", "--loss", "mse",
                       "--activation", "gelu", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert report["model"]["layers"] == [3, 5, 5, 2]
    names = {row["name"] for row in report["rows"]}
    assert {"0.weight", "1.weight", "3.module.0.weight", "δ output"} <= names


@pytest.mark.parametrize(
    "args",
    [
        ("--layers", "4"),
        ("--layers", "4,0,3"),
        ("--activation", "swish"),
        ("--loss", "hinge"),
        ("--batch", "0"),
        ("--precision", "10"),
        ("--rtol", "2"),
    ],
)
def test_bad_option_exit_2(args):
    result = run_check(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_precision_in_process(capsys):
    status = main(["check", "--layers", "2,3,2", "--precision", "50", "--loss", "bce"])
    assert status == 0
    assert "50 digits" in capsys.readouterr().out


def test_mismatch_exit_1(capsys, monkeypatch):
    def wrong_vjp(g, out, needs):
        return (g * (1 - out),)

    monkeypatch.setattr(Tanh, "vjp", staticmethod(wrong_vjp))
    args = build_parser().parse_args(["check", "--layers", "3,4,2"])
    status = args.run(args)
    output = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in output
    assert "0.weight" in output.split("FAILED")[1]


def test_mismatch_json_exit_1(capsys, monkeypatch):
    def wrong_vjp(g, out, needs):
        return (g * (1 - out),)

    monkeypatch.setattr(Tanh, "vjp", staticmethod(wrong_vjp))
    args = build_parser().parse_args(["check", "--layers", "3,4,2", "--json"])
    assert args.run(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert report["worst"].startswith(("0.", "δ 0"))
