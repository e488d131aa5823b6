"""Containers: Sequential (modules applied in order) and Residual (x + f(x))."""

from __future__ import annotations

from propagate.errors import ShapeError
from propagate.nn.modules.module import Module
from propagate.nn.tensor import as_tensor


class Sequential(Module):
    """Apply modules one after another; they are registered under the names "0", "1", ..."""

    def __init__(self, *modules: Module):
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential takes Module instances, but argument {index} is a "
                    f"{type(module).__name__}"
                )
            setattr(self, str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        """Return the module at ``index``, or a Sequential of the modules in a slice."""
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        setattr(self, str(len(self._modules)), module)
        return self


class Residual(Module):
    """Residual block ``x + module(x)``; the module must keep the input's shape."""

    def __init__(self, module: Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        x = as_tensor(x)
        out = self.module(x)
        if out.shape != x.shape:
            raise ShapeError(
                f"Residual needs a module that keeps the shape, but {type(self.module).__name__} "
                f"maps shape {x.shape} to {out.shape}"
            )
        return x + out
