"""Losses as modules: MSELoss, BCEWithLogitsLoss and CrossEntropyLoss."""

from __future__ import annotations

from propagate.nn import losses
from propagate.nn.modules.module import Module


class MSELoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, prediction, target):
        return losses.mse_loss(prediction, target, self.reduction)


class BCEWithLogitsLoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, target):
        return losses.bce_with_logits(logits, target, self.reduction)


class CrossEntropyLoss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, target):
        return losses.cross_entropy(logits, target, self.reduction)
