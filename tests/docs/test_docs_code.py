"""Run the code of the Markdown docs: every ```python block and every ``$ propagate`` line.

The rules (skip marker, expected output, ``...`` lines) are in ``markdown_blocks``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_blocks import describe_mismatch, match_lines, read_blocks, read_commands

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))
COMMAND_TIMEOUT = 120


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "100"
    return env


def _run_python(block, namespace: dict, where: str) -> None:
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        try:
            exec(compile(block.text, where, "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{where}: the block raised {exc!r}") from exc
    if block.expected is None:
        return
    expected = block.expected.splitlines()
    actual = captured.getvalue().splitlines()
    assert match_lines(expected, actual), f"{where}: {describe_mismatch(expected, actual)}"


def _run_command(command, cwd: Path, where: str) -> None:
    words = shlex.split(command.text)
    assert words and words[0] == "propagate", (
        f"{where}: only 'propagate' commands run; put {SKIP_HINT} before blocks with others"
    )
    run = subprocess.run(
        [sys.executable, "-m", "propagate", *words[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=_environment(),
    )
    shows_error = any("error:" in line for line in command.expected)
    if run.returncode != 0:
        assert shows_error, f"{where}: exit status {run.returncode}\n{run.stderr}"
    actual = run.stdout.splitlines()
    if shows_error:
        actual += run.stderr.splitlines()
    assert match_lines(command.expected, actual), (
        f"{where}: {describe_mismatch(command.expected, actual)}"
    )


SKIP_HINT = "'<!-- no-test -->'"


@pytest.mark.parametrize("path", DOC_FILES, ids=[path.name for path in DOC_FILES])
def test_doc_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs_{path.stem}"}
    for block in read_blocks(path):
        if block.skipped:
            continue
        where = f"{path.name}:{block.line}"
        if block.language == "python":
            _run_python(block, namespace, where)
        elif block.language in ("console", "bash"):
            for command in read_commands(block):
                _run_command(command, tmp_path, f"{path.name}:{command.line}")


def test_docs_folder_has_pages():
    assert DOC_FILES, f"no Markdown files in {DOCS}"
