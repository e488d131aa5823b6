"""Module: the base class of layers, holding parameters, buffers, submodules and hooks."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from propagate.errors import DataError, ShapeError
from propagate.nn.tensor import Parameter, RemovableHandle

_hook_ids = itertools.count()


class Module:
    """Base class of every layer and model.

    Assigning a :class:`~propagate.nn.Parameter` or a ``Module`` to an attribute registers
    it, so ``named_parameters()`` and ``state_dict()`` find it under the attribute name,
    with submodule names joined by dots (``"0.weight"``, ``"block.linear.bias"``).
    Subclasses implement ``forward``; calling the module runs ``forward`` and then the
    forward hooks.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = value
            return
        if isinstance(value, Parameter):
            target = self._parameters
        elif isinstance(value, Module):
            target = self._modules
        else:
            target = None
        for store in (self._parameters, self._buffers, self._modules):
            if store is not target:
                store.pop(name, None)
        if target is None:
            object.__setattr__(self, name, value)
            return
        # A plain attribute of the same name (e.g. ``bias = None``) would shadow the entry,
        # because __getattr__ runs only when normal lookup fails.
        self.__dict__.pop(name, None)
        # Assigning to an existing key keeps its position, so parameters() keeps its order
        # and an optimizer state saved by position still matches after a re-assignment.
        target[name] = value

    def __getattr__(self, name: str):
        # Called only when normal lookup fails, i.e. for registered entries.
        for store in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(store)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        """Register a non-trainable array (e.g. BatchNorm's running mean) for state_dict."""
        self.__dict__.pop(name, None)
        self._buffers[name] = np.asarray(array)

    def register_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    # ------------------------------------------------------------------ calling

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *inputs, **kwargs):
        # Keyword arguments go to forward only; hooks see the positional inputs, as in PyTorch.
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, output)
            if result is not None:
                output = result
        return output

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; a non-None return
        value replaces the output."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    # ------------------------------------------------------------------ traversal

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module (name ``prefix``) and every descendant."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted name, parameter)`` pairs; a shared parameter appears once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buffer

    # ------------------------------------------------------------------ modes and gradients

    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active, BatchNorm on batch statistics) on every module."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode on every module; same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None by default, as PyTorch 2 does)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad[...] = 0

    def to(self, dtype) -> Module:
        """Convert every parameter and floating-point buffer to ``dtype`` in place."""
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                param.grad = None
            for name, buffer in module._buffers.items():
                if np.issubdtype(buffer.dtype, np.floating):
                    module._buffers[name] = buffer.astype(dtype)
        return self

    # ------------------------------------------------------------------ state

    def state_dict(self) -> OrderedDict:
        """Return copies of every parameter and buffer, keyed by dotted name.

        A parameter shared by two modules appears under both names, as in PyTorch, so
        ``load_state_dict`` with ``strict=True`` accepts the model's own state.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules():
            for name, param in module._parameters.items():
                if param is not None:
                    state[_join(module_name, name)] = param.data.copy()
        for name, buffer in self.named_buffers():
            state[name] = np.array(buffer, copy=True)
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters and buffers, keeping their dtypes.

        Parameters are overwritten in place, so arrays that share their data see the change.

        Raises
        ------
        DataError
            With ``strict``, when ``state`` lacks a key of this model or has a key that the
            model does not have. The message lists every such key.
        ShapeError
            When an array's shape differs from the entry it should replace.
        """
        targets = {}
        for module_name, module in self.named_modules():
            for store in (module._parameters, module._buffers):
                for name in store:
                    full = f"{module_name}.{name}" if module_name else name
                    targets[full] = (module, store, name)

        missing = [key for key in targets if key not in state]
        unexpected = [key for key in state if key not in targets]
        if strict and (missing or unexpected):
            raise DataError(
                f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}; load a state saved from the same architecture "
                f"or pass strict=False"
            )

        mismatched = []
        for key, (_, store, name) in targets.items():
            if key not in state:
                continue
            current = store[name].data if isinstance(store[name], Parameter) else store[name]
            value = np.asarray(state[key])
            if value.shape != current.shape:
                mismatched.append(f"{key}: saved {value.shape}, model {current.shape}")
        if mismatched:
            raise ShapeError(f"state_dict shapes do not match: {'; '.join(mismatched)}")

        for key, (_, store, name) in targets.items():
            if key not in state:
                continue
            value = np.asarray(state[key])
            if isinstance(store[name], Parameter):
                param = store[name]
                # Copy in place, as PyTorch does, so views of the data (detach(), numpy())
                # see the loaded values. A read-only array is replaced instead.
                if param.data.flags.writeable:
                    param.data[...] = value
                else:
                    param.data = value.astype(param.data.dtype, copy=True)
            else:
                store[name] = value.astype(store[name].dtype, copy=True)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_lines = repr(child).splitlines()
            lines.append(f"  ({name}): " + "\n  ".join(child_lines))
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
