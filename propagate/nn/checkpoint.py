"""Checkpoint files: a nested state of arrays and JSON values saved atomically as ``.npz``.

A state is any nesting of dicts (string keys), lists, tuples, numbers, strings, booleans,
None and NumPy arrays, e.g. ``{"model": model.state_dict(), "epoch": 3}``. Arrays are stored
as members of the ``.npz`` named by their path (``model/0.weight``). Everything else goes
into one JSON document inside the same ``.npz``, so one rename replaces the whole checkpoint
at once. A readable copy of the JSON part is written beside it
(``checkpoint.json`` next to ``checkpoint.npz``) for people and tools; loading never needs it.
Nothing is pickled, so loading a checkpoint runs no code from the file.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from propagate.errors import CheckpointError
from propagate.fileio import write_bytes_atomic, write_json_atomic

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_KEY = "__metadata__"
ARRAY_TAG = "__array__"
TUPLE_TAG = "__tuple__"


def _flatten(value, path: str, arrays: dict[str, np.ndarray]):
    """Return ``value`` as JSON data, moving each array into ``arrays`` under its path."""
    if isinstance(value, np.ndarray):
        key = path or "array"
        if key in arrays or key == METADATA_KEY:
            raise CheckpointError(f"two arrays in the checkpoint state share the path {key!r}")
        arrays[key] = value
        return {ARRAY_TAG: key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str):
                name = _key_text(name, path)
            out[name] = _flatten(item, f"{path}/{name}" if path else name, arrays)
        return out
    if isinstance(value, (list, tuple)):
        items = [_flatten(item, f"{path}/{i}", arrays) for i, item in enumerate(value)]
        return {TUPLE_TAG: items} if isinstance(value, tuple) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(
        f"cannot save a {type(value).__name__} at {path or 'the top level'} of a checkpoint; "
        "use arrays, numbers, strings, lists and dicts"
    )


def _key_text(name, path: str) -> str:
    # Integer keys (e.g. per-parameter optimizer state) are stored as text and restored below.
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        return f"#int:{int(name)}"
    raise CheckpointError(
        f"checkpoint state key {name!r} at {path or 'the top level'} is not a string or integer"
    )


def _unflatten(value, arrays):
    if isinstance(value, dict):
        if set(value) == {ARRAY_TAG}:
            return arrays[value[ARRAY_TAG]]
        if set(value) == {TUPLE_TAG}:
            return tuple(_unflatten(item, arrays) for item in value[TUPLE_TAG])
        return {
            (int(name[5:]) if name.startswith("#int:") else name): _unflatten(item, arrays)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [_unflatten(item, arrays) for item in value]
    return value


def metadata_path(path: str | os.PathLike) -> Path:
    """Return the path of the readable JSON copy that goes with checkpoint ``path``."""
    return Path(path).with_suffix(".json")


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` (a ``.npz`` file) atomically, then its JSON copy.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if needed.
    state : dict
        Nested state as described in the module docstring. Arrays are copied as they are,
        with their dtype.

    Returns
    -------
    Path
        The checkpoint path.

    Notes
    -----
    The ``.npz`` is written to a temporary file in the same folder and renamed over
    ``path``, so a crash at any moment leaves either the previous checkpoint or the new
    one, never a mix. The JSON copy is written the same way afterwards; a crash between the
    two renames leaves a JSON copy one save behind, which loading ignores.
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint state must be a dict, got {type(state).__name__}")
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    document = {"format": FORMAT_VERSION, "state": _flatten(state, "", arrays)}
    try:
        text = json.dumps(document, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint state cannot be written as JSON: {exc}") from None

    buffer = io.BytesIO()
    members = dict(arrays)
    members[METADATA_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, **members)
    try:
        write_bytes_atomic(path, buffer.getvalue())
        write_json_atomic(metadata_path(path), document["state"])
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint {path}: {exc}") from exc
    logger.info("saved checkpoint %s (%d arrays)", path, len(arrays))
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` and return its state.

    Raises
    ------
    CheckpointError
        When the file is missing, is not a checkpoint, or has an unknown format version.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    # np.load tries to unpickle a file that is not .npz or .npy and fails with a message
    # about pickles. Checking the zip signature first gives the real reason.
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror})") from None
    if not is_zip:
        raise CheckpointError(
            f"{path} is not a readable checkpoint: it is empty, truncated or not an .npz file"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc})") from None
    if METADATA_KEY not in members:
        raise CheckpointError(f"{path} is an .npz file but not a propagate checkpoint")

    try:
        document = json.loads(members.pop(METADATA_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} has unreadable metadata ({exc})") from None
    version = document.get("format")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}; this version of propagate reads "
            f"format {FORMAT_VERSION}"
        )
    try:
        return _unflatten(document["state"], members)
    except KeyError as exc:
        raise CheckpointError(f"{path} refers to a missing array {exc.args[0]!r}") from None
