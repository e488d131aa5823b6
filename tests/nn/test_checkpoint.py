"""Checkpoint files: round trip of nested state, atomic replacement, and bad files."""

import json
import os

import numpy as np
import pytest

from propagate.errors import CheckpointError
from propagate.nn.checkpoint import load_checkpoint, metadata_path, save_checkpoint


def sample_state():
    return {
        "model": {
            "0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
            "0.bias": np.array([0.5, -0.5], dtype=np.float64),
        },
        "optimizer": {"state": {0: {"step": 3, "m": np.ones(2)}}, "lr": 1e-3},
        "epoch": 4,
        "shape": (2, 3),
        "rng": {"state": {"state": 2**120 + 7, "inc": 12345}},
        "names": ["a", "b"],
        "note": None,
        "flag": True,
        "scalar": np.float32(0.25),
    }


def test_roundtrip_values(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.npz", sample_state())
    state = load_checkpoint(path)
    assert np.array_equal(state["model"]["0.weight"], np.arange(6).reshape(2, 3))
    assert state["model"]["0.bias"].tolist() == [0.5, -0.5]
    assert state["epoch"] == 4
    assert state["rng"]["state"]["state"] == 2**120 + 7
    assert state["names"] == ["a", "b"]
    assert state["note"] is None
    assert state["flag"] is True
    assert state["scalar"] == 0.25


def test_roundtrip_types(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.npz", sample_state())
    state = load_checkpoint(path)
    assert state["model"]["0.weight"].dtype == np.float32
    assert state["model"]["0.bias"].dtype == np.float64
    assert state["shape"] == (2, 3)
    assert list(state["optimizer"]["state"]) == [0]
    assert state["optimizer"]["state"][0]["step"] == 3


def test_json_copy_written(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.npz", sample_state())
    document = json.loads(metadata_path(path).read_text())
    assert document["epoch"] == 4
    assert document["model"]["0.bias"] == {"__array__": "model/0.bias"}


def test_save_creates_folder(tmp_path):
    path = save_checkpoint(tmp_path / "a" / "b" / "checkpoint.npz", {"x": 1})
    assert load_checkpoint(path) == {"x": 1}


def test_crash_during_save_keeps_old(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.zeros(3)})

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": np.ones(3)})
    monkeypatch.undo()

    state = load_checkpoint(path)
    assert state["epoch"] == 1
    assert state["w"].tolist() == [0.0, 0.0, 0.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", "checkpoint.npz"]


def test_crash_at_rename_keeps_old(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"epoch": 1})

    def fail(*args):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(CheckpointError, match="power cut"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


def test_load_missing(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.npz")


def test_load_garbage(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_load_text_file_names_format(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_text("garbage\n")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "not an .npz file" in str(info.value)
    assert "pickle" not in str(info.value)


def test_load_empty_file(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty, truncated or not an .npz file"):
        load_checkpoint(path)


def test_load_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_load_corrupted_member(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.npz", {"w": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    for i in range(200, 300):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_load_foreign_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a propagate checkpoint"):
        load_checkpoint(path)


def test_load_truncated(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.npz", {"w": np.zeros(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_save_rejects_objects(tmp_path):
    with pytest.raises(CheckpointError, match="cannot save a set"):
        save_checkpoint(tmp_path / "c.npz", {"bad": {1, 2}})
