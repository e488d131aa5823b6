"""Atomic writes leave either the old file or the new one, never a partial file."""

import json
import os
import stat

import pytest

from propagate import fileio


def test_write_text_replaces(tmp_path):
    target = tmp_path / "a.txt"
    fileio.write_text_atomic(target, "old")
    fileio.write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_failed_write_keeps_old(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    fileio.write_text_atomic(target, "old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError):
        fileio.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_append_jsonl_keeps_lines(tmp_path):
    target = tmp_path / "log.jsonl"
    fileio.append_jsonl(target, [{"step": 1}])
    fileio.append_jsonl(target, [{"step": 2}, {"step": 3}])
    lines = target.read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


def test_written_file_follows_umask(tmp_path):
    old_mask = os.umask(0o022)
    try:
        target = fileio.write_text_atomic(tmp_path / "a.txt", "text")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
