"""Layers of the engine: the Module base class and the layers built on it."""

from propagate.nn.modules.activation import (
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from propagate.nn.modules.container import Residual, Sequential
from propagate.nn.modules.dropout import Dropout
from propagate.nn.modules.linear import Flatten, Identity, Linear
from propagate.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from propagate.nn.modules.module import Module
from propagate.nn.modules.normalization import BatchNorm1d, LayerNorm
from propagate.nn.modules.rnn import RNN

__all__ = [
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "GELU",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "RNN",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
]
