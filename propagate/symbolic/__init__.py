"""Symbolic computational graphs: safe parsing, exact gradients, chain-rule paths, compilation."""

from propagate.symbolic.chain import Chain, ChainPath, ChainValue
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
from propagate.symbolic.network import DenseNetwork, activation_derivative, dense_network
from propagate.symbolic.parser import parse
from propagate.symbolic.printing import to_display, to_latex, to_text

__all__ = [
    "Chain",
    "ChainPath",
    "ChainValue",
    "CompiledFunction",
    "DenseNetwork",
    "Graph",
    "activation_derivative",
    "compile_graph",
    "dense_network",
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
    "to_display",
    "to_latex",
    "to_text",
]
