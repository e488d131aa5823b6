"""Symbolic computational graphs: safe parsing, exact gradients, chain-rule paths, compilation."""

from propagate.symbolic.compile import CompiledFunction, compile_graph
from propagate.symbolic.functions import (
    gelu,
    leaky_relu,
    leaky_relu_grad,
    logsumexp,
    maximum,
    minimum,
    relu,
    relu_grad,
    sigmoid,
    softplus,
    tie_share,
)
from propagate.symbolic.graph import Graph
from propagate.symbolic.parser import parse

__all__ = [
    "CompiledFunction",
    "Graph",
    "compile_graph",
    "gelu",
    "leaky_relu",
    "leaky_relu_grad",
    "logsumexp",
    "maximum",
    "minimum",
    "parse",
    "relu",
    "relu_grad",
    "sigmoid",
    "softplus",
    "tie_share",
]
