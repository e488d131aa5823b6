"""Elman recurrent layer, trained by backpropagation through time in the engine itself."""

from __future__ import annotations

import math

import numpy as np

from propagate.errors import ShapeError
from propagate.nn import functional as F
from propagate.nn import init
from propagate.nn.modules.linear import DEFAULT_DTYPE
from propagate.nn.modules.module import Module
from propagate.nn.tensor import Parameter, as_tensor

_NONLINEARITIES = {"tanh": F.tanh, "relu": F.relu}


class RNN(Module):
    """Single-layer Elman RNN, h_t = f(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh).

    Parameter names and shapes follow PyTorch (``weight_ih_l0`` of shape (hidden, input),
    ``weight_hh_l0`` of shape (hidden, hidden), biases of shape (hidden,)), and every
    parameter starts from U(-1/√hidden, 1/√hidden).

    ``forward(x, h0=None)`` takes x of shape (seq_len, batch, input_size) and returns
    ``(output, h_n)``: every hidden state, shape (seq_len, batch, hidden_size), and the last
    one, shape (1, batch, hidden_size). The unrolled loop is an ordinary graph, so
    ``backward`` through it is backpropagation through time.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 bias: bool = True, rng=None, dtype=DEFAULT_DTYPE):
        super().__init__()
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"unknown RNN nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'"
            )
        rng = init.as_generator(rng)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.nonlinearity = nonlinearity
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih_l0 = Parameter(np.empty((hidden_size, input_size), dtype=dtype))
        self.weight_hh_l0 = Parameter(np.empty((hidden_size, hidden_size), dtype=dtype))
        init.uniform_(self.weight_ih_l0, -bound, bound, rng=rng)
        init.uniform_(self.weight_hh_l0, -bound, bound, rng=rng)
        if bias:
            self.bias_ih_l0 = Parameter(np.empty(hidden_size, dtype=dtype))
            self.bias_hh_l0 = Parameter(np.empty(hidden_size, dtype=dtype))
            init.uniform_(self.bias_ih_l0, -bound, bound, rng=rng)
            init.uniform_(self.bias_hh_l0, -bound, bound, rng=rng)
        else:
            self.bias_ih_l0 = None
            self.bias_hh_l0 = None

    def forward(self, x, h0=None):
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ShapeError(
                f"RNN expects input of shape (seq_len, batch, {self.input_size}), got {x.shape}"
            )
        seq_len, batch, _ = x.shape
        if seq_len == 0:
            raise ShapeError(
                f"RNN got an empty sequence (input shape {x.shape}); pass at least one time step"
            )
        if h0 is None:
            h = as_tensor(np.zeros((batch, self.hidden_size), dtype=self.weight_hh_l0.dtype))
        else:
            h0 = as_tensor(h0)
            if h0.shape != (1, batch, self.hidden_size):
                raise ShapeError(
                    f"RNN initial state must have shape (1, {batch}, {self.hidden_size}), "
                    f"got {h0.shape}"
                )
            h = h0[0]

        # Each step indexes x[t] and multiplies on its own: one x @ W_ihᵀ for all steps would
        # be a single matmul, but slicing its result T times makes backward cost O(T²).
        activation = _NONLINEARITIES[self.nonlinearity]
        states = []
        for t in range(seq_len):
            pre = x[t] @ self.weight_ih_l0.T + h @ self.weight_hh_l0.T
            if self.bias_ih_l0 is not None:
                pre = pre + self.bias_ih_l0 + self.bias_hh_l0
            h = activation(pre)
            states.append(h)
        output = F.stack(states, axis=0)
        return output, h.reshape(1, batch, self.hidden_size)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"
