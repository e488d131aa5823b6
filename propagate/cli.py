"""The ``propagate`` command: argument parsing and error reporting over the library.

Each subcommand lives in ``propagate.commands.<name>`` with two functions:
``add_parser(subparsers)`` registers its options, and ``run(args) -> int`` does the work
and returns the exit status. A user mistake raises a ``PropagateError`` (or ``ValueError``
or ``OSError``), which is printed here as one line, with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from propagate.errors import PropagateError

COMMANDS = ("grad", "uncertainty", "train", "check", "diagnose", "plot", "demo")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Argument parser that reports a usage error in one line with exit status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"propagate: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand that can be imported.

    With ``only`` set to a command name, just that subcommand is registered, so that a run
    imports only the parts of the library it uses (sympy alone takes about 0.3 s).
    """
    parser = _Parser(
        prog="propagate",
        description="Error propagation in both senses: exact gradients and backpropagation, "
        "and propagation of measurement uncertainty.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(f"propagate.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"propagate.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` and return its exit status."""
    if argv is None:
        argv = sys.argv[1:]
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
    except KeyboardInterrupt:
        print("propagate: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # The reader of stdout went away (as `propagate ... | head` does); Python would
        # report the pipe again while flushing at exit, so stdout is pointed at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (PropagateError, ValueError, OSError) as exc:
        print(f"propagate {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RecursionError, OverflowError) as exc:
        # Both come from input too large to handle (a graph nested too deeply, a number
        # beyond float64), so they are reported like other input errors.
        print(
            f"propagate {args.command}: error: input too large to handle ({exc}); "
            "use a smaller expression, graph or value",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"propagate {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
