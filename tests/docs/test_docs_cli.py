"""docs/cli.md against the argument parser: every option documented, none invented.

The page has one section ``## propagate NAME`` per command and ``## propagate`` for the
options before the command. Within a section, every option of that command must appear,
and every ``--option`` written must exist for that command or before it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from propagate.cli import build_parser

CLI_DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
HEADING = re.compile(r"^## propagate(?: (\S+))?\s*$")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _sections() -> dict[str, str]:
    """Return command name ("" for the top level) -> text of its section."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in CLI_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            match = HEADING.match(line)
            current = (match.group(1) or "") if match else None
            if current is not None:
                sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the propagate parser has no subcommands")


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    """Return the parser's ``--`` options; ``--help``, which every command has, is listed
    once in the top section."""
    return {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    return [
        action.metavar or action.dest.upper()
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    ]


PARSER = build_parser()
COMMANDS = _subparsers(PARSER)
SECTIONS = _sections()
TOP_LEVEL = _long_options(PARSER)


def test_cli_doc_has_top_section():
    assert "" in SECTIONS, "docs/cli.md has no '## propagate' section for the global options"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_doc_has_command_section(name):
    assert name in SECTIONS, f"docs/cli.md has no section '## propagate {name}'"


def test_cli_doc_sections_are_commands():
    unknown = sorted(set(SECTIONS) - set(COMMANDS) - {""})
    assert not unknown, f"docs/cli.md documents commands that do not exist: {unknown}"


def test_cli_doc_lists_top_options():
    top = SECTIONS.get("", "")
    missing = sorted(option for option in TOP_LEVEL | {"--help"} if option not in top)
    assert not missing, f"'## propagate' in docs/cli.md does not mention {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_doc_lists_every_option(name):
    text = SECTIONS.get(name, "")
    written = set(OPTION.findall(text))
    missing = sorted(_long_options(COMMANDS[name]) - written)
    assert not missing, f"'## propagate {name}' in docs/cli.md does not mention {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_doc_lists_positionals(name):
    text = SECTIONS.get(name, "")
    missing = [metavar for metavar in _positionals(COMMANDS[name]) if metavar not in text]
    assert not missing, f"'## propagate {name}' in docs/cli.md does not mention {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_doc_lists_choices(name):
    text = SECTIONS.get(name, "")
    missing = [
        f"{action.option_strings[0]} {choice}"
        for action in COMMANDS[name]._actions
        if action.option_strings and action.choices
        for choice in action.choices
        if f"`{choice}`" not in text
    ]
    assert not missing, f"'## propagate {name}' in docs/cli.md does not name {missing}"


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_cli_doc_invents_no_option(name):
    allowed = TOP_LEVEL | {"--help"}
    if name:
        if name not in COMMANDS:
            pytest.skip(f"no command {name}; test_cli_doc_sections_are_commands reports it")
        allowed |= _long_options(COMMANDS[name])
    invented = sorted(set(OPTION.findall(SECTIONS[name])) - allowed)
    assert not invented, f"'## propagate {name}' in docs/cli.md names unknown options {invented}"


def test_cli_doc_lists_parser_functions():
    from propagate.symbolic.parser import CONSTANTS, FUNCTIONS

    text = SECTIONS.get("grad", "")
    missing = sorted(name for name in [*FUNCTIONS, *CONSTANTS] if f"`{name}`" not in text)
    assert not missing, f"'## propagate grad' in docs/cli.md does not name {missing}"


def test_option_pattern_finds_options():
    assert OPTION.findall("use `--clip-norm X` and --json, not x--y") == ["--clip-norm", "--json"]
