"""Subcommands of the ``propagate`` command line, one module each."""
