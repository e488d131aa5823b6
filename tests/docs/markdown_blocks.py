"""Fenced code blocks of the Markdown docs and the rules that run them in the tests.

The rules, which docs/index.md also states for writers:

- every ```python block runs, in file order, in one namespace per file, in a temporary
  working directory;
- a ```text block right after a ```python block is that block's expected standard output;
- in a ```console or ```bash block, each line ``$ propagate ...`` is a command that runs,
  and the lines below it, up to the next ``$`` line, are its expected standard output;
- expected output matches line by line after trailing spaces are removed;
- a line ``...`` stands for any number of lines (zero or more);
- a line that ends in `` ...`` matches any line that starts with the text before it;
- a line ``<!-- no-test -->`` right before a block skips that block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SKIP_MARKER = "<!-- no-test -->"
ELLIPSIS = "..."
PREFIX_MARK = " ..."

_FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\s*$")


@dataclass
class Block:
    """One fenced block: its language, its text, the line of its opening fence."""

    language: str
    text: str
    line: int
    skipped: bool = False
    expected: str | None = None


@dataclass
class Command:
    """One ``$ propagate ...`` line of a console block with the output shown below it."""

    text: str
    line: int
    expected: list[str] = field(default_factory=list)


def read_blocks(path: Path) -> list[Block]:
    """Return the fenced blocks of a Markdown file in order.

    A ```text block directly after a ```python block (only blank lines between) becomes
    that block's ``expected`` output and is not returned on its own.

    Raises
    ------
    ValueError
        If a fence is not closed.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous_end = -1
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue

        start = index
        end = start + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{start + 1}: code fence is not closed")

        before = [line for line in lines[:start] if line.strip()]
        skipped = bool(before) and before[-1].strip() == SKIP_MARKER
        block = Block(match.group(1).lower(), "\n".join(lines[start + 1 : end]), start + 1, skipped)
        between = lines[previous_end + 1 : start]
        follows_python = (
            blocks
            and blocks[-1].language == "python"
            and blocks[-1].expected is None
            and all(not line.strip() for line in between)
        )
        if block.language == "text" and follows_python:
            blocks[-1].expected = block.text
        else:
            blocks.append(block)
        previous_end = end
        index = end + 1
    return blocks


def read_commands(block: Block) -> list[Command]:
    """Return the ``$ propagate`` commands of a console block with their expected output.

    Commands of other programs are returned too, so that a test can reject them.
    """
    commands: list[Command] = []
    for offset, line in enumerate(block.text.splitlines(), start=1):
        if line.startswith("$ "):
            commands.append(Command(line[2:].strip(), block.line + offset))
        elif commands:
            commands[-1].expected.append(line)
    for command in commands:
        while command.expected and not command.expected[-1].strip():
            command.expected.pop()
    return commands


def match_lines(expected: list[str], actual: list[str]) -> bool:
    """Return whether ``actual`` matches ``expected``, where a ``...`` line matches any run
    of lines. Trailing spaces are ignored on both sides."""
    expected = [line.rstrip() for line in expected]
    actual = [line.rstrip() for line in actual]
    while actual and not actual[-1]:
        actual.pop()
    while expected and not expected[-1]:
        expected.pop()

    # Dynamic programming over (expected position, actual position).
    reachable = {(0, 0)}
    frontier = [(0, 0)]
    while frontier:
        i, j = frontier.pop()
        if i == len(expected):
            if j == len(actual):
                return True
            continue
        steps = []
        if expected[i] == ELLIPSIS:
            steps.append((i + 1, j))
            if j < len(actual):
                steps.append((i, j + 1))
        elif j < len(actual) and line_matches(expected[i], actual[j]):
            steps.append((i + 1, j + 1))
        for step in steps:
            if step not in reachable:
                reachable.add(step)
                frontier.append(step)
    return False


def line_matches(expected: str, actual: str) -> bool:
    """Return whether one output line matches, where `` ...`` at the end allows any rest."""
    if expected.endswith(PREFIX_MARK):
        return actual.startswith(expected[: -len(PREFIX_MARK)])
    return expected == actual


def describe_mismatch(expected: list[str], actual: list[str]) -> str:
    """Return the expected and the actual output one after the other, for an assertion."""
    expected_text = "\n".join(expected)
    actual_text = "\n".join(actual)
    return f"expected output:\n{expected_text}\n--- actual output:\n{actual_text}"
