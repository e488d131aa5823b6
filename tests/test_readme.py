"""README.md: its Python blocks run in order, and its console commands exit with status 0."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def console_blocks() -> list[list[str]]:
    """Return the ``$ propagate ...`` lines of each console block; later lines may use files
    that earlier lines of the same block wrote."""
    return [
        [line[2:] for line in block.splitlines() if line.startswith("$ propagate ")]
        for block in blocks("console")
    ]


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    python_blocks = blocks("python")
    assert python_blocks
    for block in python_blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["report"].passed


def test_readme_opens_with_two_commands():
    first_two = blocks("bash")[:2]
    assert "propagate demo" in first_two[0]
    assert "pytest" in first_two[1]


def test_ci_runs_readme_test_command():
    test_command = blocks("bash")[1].strip().split("&&")[-1].strip()
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.replace(".venv/bin/", "") in ci_script.replace(".venv/bin/", "")


@pytest.mark.parametrize("commands", console_blocks(), ids=lambda lines: lines[0][:40])
def test_readme_console_block(commands, tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(ROOT / "examples" / "gum_h2_readings.csv", examples)
    for command in commands:
        argv = shlex.split(command)
        result = subprocess.run(
            [sys.executable, "-m", "propagate", *argv[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert result.stdout.strip(), command
