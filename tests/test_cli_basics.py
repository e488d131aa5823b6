"""The command line: usage errors are one line with exit status 2."""

import subprocess
import sys


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "propagate", *args], capture_output=True, text=True, timeout=120
    )


def test_unknown_command_exits_2():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_program():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "propagate" in result.stdout


def test_help_lists_every_command():
    result = run_cli("--help")
    for command in ("grad", "uncertainty", "train", "check", "diagnose", "plot", "demo"):
        assert command in result.stdout


def test_closed_pipe_no_traceback():
    command = f'"{sys.executable}" -m propagate grad "x*y" --at x=1 --at y=2 | head -c 1'
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    assert "Broken pipe" not in result.stderr
