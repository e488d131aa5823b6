"""Trained networks from ``propagate train`` checkpoints, with their input standardiser.

The trainer standardises every input feature, ``z = (x - mean) / scale``, before passing it
to the model. A standard uncertainty ``u`` of a raw feature (say 0.5 grey levels of a pixel) is
therefore ``u / scale`` for the model's input. A feature that was constant in the training
set has scale 1 (the standardiser's rule), so its uncertainty passes unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from propagate import nn
from propagate.check.network_uncertainty import OutputUncertainty, output_uncertainty
from propagate.errors import CheckpointError, ShapeError
from propagate.nn.checkpoint import load_checkpoint
from propagate.nn.data import Standardizer
from propagate.nn.models import MLPSpec
from propagate.nn.train import CHECKPOINT_KIND, CHECKPOINT_NAME


@dataclass
class TrainedNetwork:
    """A model restored from a training checkpoint.

    Attributes
    ----------
    model : propagate.nn.Sequential
        With the saved weights, in the saved dtype.
    scaler : Standardizer
        The input standardiser fitted on the training set.
    spec : MLPSpec
    task : str
        ``"classification"`` or ``"regression"``.
    class_names : list of str or None
    """

    model: nn.Sequential
    scaler: Standardizer
    spec: MLPSpec
    task: str
    class_names: list[str] | None

    def standardise(self, x) -> np.ndarray:
        """Return raw inputs of shape (N, n) as the model takes them, in float64."""
        return self.scaler.transform(np.asarray(x, dtype=np.float64))

    def input_std(self, raw_std) -> np.ndarray:
        """Return raw standard uncertainties (a number or shape (n,)) in standardised units."""
        raw_std = np.asarray(raw_std, dtype=np.float64)
        try:
            return np.broadcast_to(raw_std, self.scaler.scale.shape) / self.scaler.scale
        except ValueError:
            raise ShapeError(
                f"raw standard uncertainty of shape {raw_std.shape} does not fit "
                f"{self.scaler.scale.shape[0]} features; give a number or one per feature"
            ) from None

    def output_uncertainty(
        self, x, raw_std, outputs: str = "probabilities"
    ) -> OutputUncertainty:
        """Propagate a raw input standard uncertainty through the network; see
        :func:`propagate.check.output_uncertainty`."""
        if outputs == "probabilities" and self.task != "classification":
            raise ValueError(
                "probabilities need a classification network; use outputs='logits' for "
                "the outputs of a regression network (in standardised target units)"
            )
        return output_uncertainty(
            self.model, self.standardise(x), input_std=self.input_std(raw_std), outputs=outputs
        )


def load_trained(path: str | os.PathLike) -> TrainedNetwork:
    """Restore the network saved by ``propagate train``.

    Parameters
    ----------
    path : path-like
        The checkpoint file or the run folder that contains ``checkpoint.npz``.

    Raises
    ------
    CheckpointError
        If there is no checkpoint or it is not one written by the trainer.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    state = load_checkpoint(path)
    if state.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path} is not a training checkpoint of propagate train")
    spec = MLPSpec.from_dict(state["spec"])
    dtype = np.dtype(state["config"]["dtype"])
    model = spec.build(rng=np.random.default_rng(0), dtype=dtype)
    model.load_state_dict(state["model"])
    model.eval()
    scaler = Standardizer().load_state_dict(state["x_scaler"])
    return TrainedNetwork(model, scaler, spec, state["task"], state.get("class_names"))
