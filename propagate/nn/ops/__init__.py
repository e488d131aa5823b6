"""Primitive operations of the engine, each with its forward map and VJP side by side.

Importing this package registers every primitive in ``propagate.nn.autograd.PRIMITIVES``.
"""

from propagate.nn.ops import activation, arithmetic, linalg, reduction, shape  # noqa: F401
