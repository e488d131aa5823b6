"""docs/api.md against the code: every name resolves, and its parameters are the code's.

An entry is a bullet ``- `name(parameters)`: text`` under a heading ``## `module```. The
name may be dotted (``Graph.gradient``). Written parameters must match the names, order and
kinds of ``inspect.signature``. A written default must equal the code's, except ``=...``,
which only states that a default exists. A default in the code must be written too.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEADING = re.compile(r"^## `([\w.]+)`\s*$")
ENTRY = re.compile(r"^- `([A-Za-z_][\w.]*)(?:\(([^`]*)\))?`: \S")
UNSPECIFIED = "..."


def read_entries() -> list[tuple[str, str, str | None, int]]:
    """Return ``(module, name, parameter text or None, line)`` for every entry."""
    entries = []
    module = None
    for number, line in enumerate(API_DOC.read_text(encoding="utf-8").splitlines(), start=1):
        heading = HEADING.match(line)
        if heading:
            module = heading.group(1)
            continue
        entry = ENTRY.match(line)
        if entry:
            assert module is not None, f"api.md:{number}: entry before the first module heading"
            entries.append((module, entry.group(1), entry.group(2), number))
    return entries


def split_parameters(text: str) -> list[str]:
    """Split ``a, b=(1, 2), *, c`` at the commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def default_text(value) -> str:
    """Return a default as api.md writes it: ``repr``, and ``np.float64`` for NumPy types."""
    if isinstance(value, type) and value.__module__ == "numpy":
        return f"np.{value.__name__}"
    return repr(value)


def code_parameters(obj) -> list[tuple[str, str | None]]:
    """Return ``(written name, default text or None)`` per parameter of ``obj``."""
    result = []
    keyword_marker_needed = True
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.name in ("self", "cls"):
            continue
        kind = parameter.kind
        if kind is parameter.VAR_POSITIONAL:
            result.append((f"*{parameter.name}", None))
            keyword_marker_needed = False
            continue
        if kind is parameter.VAR_KEYWORD:
            result.append((f"**{parameter.name}", None))
            continue
        if kind is parameter.KEYWORD_ONLY and keyword_marker_needed:
            result.append(("*", None))
            keyword_marker_needed = False
        default = None if parameter.default is parameter.empty else parameter.default
        has_default = parameter.default is not parameter.empty
        result.append((parameter.name, default_text(default) if has_default else None))
    return result


def written_parameters(text: str) -> list[tuple[str, str | None]]:
    """Return ``(name, default text or None)`` per parameter written in api.md."""
    result = []
    for part in split_parameters(text):
        name, separator, default = part.partition("=")
        result.append((name.strip(), default.strip() if separator else None))
    return result


def resolve(module_name: str, dotted: str):
    obj = importlib.import_module(module_name)
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


ENTRIES = read_entries()


def test_api_doc_has_entries():
    assert len(ENTRIES) > 100, f"api.md lists only {len(ENTRIES)} names"


@pytest.mark.parametrize(
    ("module", "name", "parameters", "line"),
    ENTRIES,
    ids=[f"{module}.{name}" for module, name, _, _ in ENTRIES],
)
def test_api_entry_matches_code(module, name, parameters, line):
    try:
        obj = resolve(module, name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"api.md:{line}: {module}.{name} does not resolve: {exc}")
    if parameters is None:
        return

    written = written_parameters(parameters)
    actual = code_parameters(obj)
    assert [n for n, _ in written] == [n for n, _ in actual], (
        f"api.md:{line}: {name}({parameters}) but the code has "
        f"({', '.join(n for n, _ in actual)})"
    )
    for (parameter, doc_default), (_, code_default) in zip(written, actual, strict=True):
        assert (doc_default is None) == (code_default is None), (
            f"api.md:{line}: {name} writes {parameter}"
            f"{'' if doc_default is None else '=' + doc_default}, "
            f"the code has {parameter}{'' if code_default is None else '=' + code_default}"
        )
        if doc_default is not None and doc_default != UNSPECIFIED:
            assert doc_default == code_default, (
                f"api.md:{line}: {name} documents {parameter}={doc_default}, "
                f"the code's default is {code_default}"
            )


def test_split_parameters_keeps_tuples():
    assert split_parameters("a, betas=(0.9, 0.999), *, c='x,y'") == [
        "a",
        "betas=(0.9, 0.999)",
        "*",
        "c='x,y'",
    ]


def test_default_text_names_numpy_types():
    assert default_text(np.float32) == "np.float32"


def test_code_parameters_detect_wrong_signature():
    from propagate.symbolic import Graph

    assert written_parameters("output, at") != code_parameters(Graph.gradient)
    assert written_parameters("output, wrt=None") == code_parameters(Graph.gradient)
