"""Symbol names for parameter entries: ``0.weight[2,1]`` to a valid identifier and back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from propagate.symbolic.parser import is_valid_name


@dataclass(frozen=True)
class EntryName:
    """One entry of an engine tensor: the tensor's dotted name and the entry's index."""

    tensor: str
    index: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.tensor}[{','.join(map(str, self.index))}]"


def symbol_name(prefix: str, tensor: str, index: tuple[int, ...], taken) -> str:
    """Return a free identifier for ``tensor[index]``, e.g. ``p_0_weight_2_1``.

    Every character outside ``[A-Za-z0-9_]`` becomes ``_``. Because two tensor names can map
    to the same text (``a.b_c`` and ``a_b.c``), a counter is appended while the name is in
    ``taken`` or is reserved by the parser.
    """
    stem = re.sub(r"[^A-Za-z0-9_]", "_", tensor)
    name = "_".join([prefix, stem, *map(str, index)]) if index else f"{prefix}_{stem}"
    candidate = name
    counter = 1
    while candidate in taken or not is_valid_name(candidate):
        candidate = f"{name}_{counter}"
        counter += 1
    return candidate
