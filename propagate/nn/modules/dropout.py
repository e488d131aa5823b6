"""Dropout with a seeded generator and inverted scaling."""

from __future__ import annotations

from propagate.nn import init
from propagate.nn.modules.module import Module
from propagate.nn.tensor import as_tensor


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by 1/(1-p).

    The scaling keeps the expected activation unchanged, so evaluation mode is the identity.
    ``rng`` (Generator, seed or None) draws the masks, so a seeded run repeats exactly.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.rng = init.as_generator(rng)

    def forward(self, x):
        x = as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        keep = self.rng.random(x.shape) >= self.p
        mask = keep.astype(x.dtype) / (1.0 - self.p)
        return x * mask.astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"
