"""``propagate train`` end to end: results, files, resume rules and exit statuses.

The main paths run in a subprocess, as a user runs them. Variations of options run in this
process through ``propagate.cli.main``, which keeps the suite quick.
"""

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from propagate.cli import main


def run_train(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "propagate", "train", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def main_train(capsys, *args):
    """Run ``propagate train`` in this process, which is faster than a subprocess."""
    argv = ["train", "--no-progress", *args]
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, status, captured.out, captured.err)


def assert_one_line_error(result, status=2):
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_defaults_reach_95_percent(tmp_path):
    out = tmp_path / "run"
    result = run_train("--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["test_accuracy"] >= 0.95
    assert report["epochs"] == 25
    assert report["checkpoint"] == str(out / "checkpoint.npz")
    assert (out / "checkpoint.npz").exists()
    assert len((out / "history.jsonl").read_text().splitlines()) == 25


def test_text_output(tmp_path):
    result = run_train("--out", str(tmp_path), "--epochs", "2", "--layers", "16")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("test accuracy ")
    assert "after 2 epochs" in lines[0]
    assert result.stderr == ""


def test_default_out_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = main_train(capsys, "--epochs", "1", "--layers", "8")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "train" / "checkpoint.npz").exists()


def test_existing_checkpoint_needs_choice(tmp_path):
    assert run_train("--out", str(tmp_path), "--epochs", "1", "--layers", "8").returncode == 0
    result = run_train("--out", str(tmp_path), "--epochs", "1", "--layers", "8")
    assert_one_line_error(result)
    assert "--resume" in result.stderr
    assert "--overwrite" in result.stderr


def test_overwrite_starts_afresh(tmp_path, capsys):
    assert (
        main_train(capsys, "--out", str(tmp_path), "--epochs", "2", "--layers", "8").returncode == 0
    )
    result = main_train(
        capsys, "--out", str(tmp_path), "--epochs", "1", "--layers", "8", "--overwrite"
    )
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1


def test_resume_continues_and_matches(tmp_path):
    common = ["--layers", "16", "--optimizer", "momentum", "--lr", "0.05", "--json"]
    whole = run_train("--out", str(tmp_path / "whole"), "--epochs", "3", *common)
    part = run_train("--out", str(tmp_path / "part"), "--epochs", "1", *common)
    rest = run_train("--out", str(tmp_path / "part"), "--resume", "--epochs", "3", "--json")
    for result in (whole, part, rest):
        assert result.returncode == 0, result.stderr
    whole_report = json.loads(whole.stdout)
    rest_report = json.loads(rest.stdout)
    assert rest_report["resumed"] is True
    assert rest_report["epochs"] == 3
    whole_final = {k: v for k, v in whole_report["final"].items() if k != "seconds"}
    rest_final = {k: v for k, v in rest_report["final"].items() if k != "seconds"}
    assert rest_final == whole_final


def test_resume_rejects_changed_setting(tmp_path, capsys):
    assert (
        main_train(capsys, "--out", str(tmp_path), "--epochs", "1", "--layers", "8").returncode == 0
    )
    result = main_train(capsys, "--out", str(tmp_path), "--resume", "--layers", "16")
    assert_one_line_error(result)
    assert "--layers 16 differs" in result.stderr


def test_resume_without_checkpoint(tmp_path, capsys):
    result = main_train(capsys, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result)
    assert "no checkpoint to resume" in result.stderr


def test_divergence_exits_1(tmp_path):
    result = run_train("--out", str(tmp_path), "--optimizer", "sgd", "--lr", "1e6")
    assert_one_line_error(result, status=1)
    assert "diverged at step" in result.stderr
    assert re.search(r"'\d+\.(weight|bias)'", result.stderr)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lr", "-1"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--layers", "64,x"], "--layers"),
    ],
)
def test_bad_option_exits_2(tmp_path, args, fragment):
    result = run_train("--out", str(tmp_path), *args)
    assert_one_line_error(result)
    assert fragment in result.stderr
    assert not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lr", "abc"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--layers", ""], "--layers"),
        (["--clip-norm", "0"], "--clip-norm"),
        (["--optimizer", "lbfgs"], "--optimizer"),
        (["--activation", "swish"], "--activation"),
        (["--test-fraction", "1.5"], "--test-fraction"),
        (["--seed", "-1"], "--seed"),
        (["--resume", "--overwrite"], "--overwrite"),
        (["--layers", "64,,32"], "--layers"),
        (["--layers", "0"], "--layers"),
        (["--layers", "abc"], "--layers"),
        (["--layers", "²"], "invalid layer sizes"),
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"),
        (["--lr", "0"], "--lr"),
    ],
)
def test_bad_option_in_process(tmp_path, capsys, args, fragment):
    result = main_train(capsys, "--out", str(tmp_path), *args)
    assert_one_line_error(result)
    assert fragment in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = run_train(
        "--out", str(tmp_path), "--data", str(tmp_path / "none.csv"), "--target", "y"
    )
    assert_one_line_error(result)
    assert "not found" in result.stderr


def test_unknown_target_column_exits_2(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    result = run_train("--out", str(tmp_path / "run"), "--data", str(path), "--target", "kind")
    assert_one_line_error(result)
    assert "no column named 'kind'" in result.stderr


def test_csv_needs_target(tmp_path, capsys):
    path = tmp_path / "table.csv"
    path.write_text("a,label\n1,x\n2,y\n")
    result = main_train(capsys, "--out", str(tmp_path / "run"), "--data", str(path))
    assert_one_line_error(result)
    assert "--target" in result.stderr


def test_csv_string_labels(tmp_path, capsys):
    # Two well-separated clusters with text labels.
    lines = ["u,v,species"]
    for i in range(60):
        offset = 5.0 if i % 2 else -5.0
        lines.append(f"{offset + (i % 7) * 0.1},{offset - (i % 5) * 0.1},{'b' if i % 2 else 'a'}")
    path = tmp_path / "clusters.csv"
    path.write_text("\n".join(lines) + "\n")
    result = main_train(
        capsys,
        "--out",
        str(tmp_path / "run"),
        "--data",
        str(path),
        "--target",
        "species",
        "--layers",
        "8",
        "--epochs",
        "20",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["task"] == "classification"
    assert report["test_accuracy"] == 1.0


def test_csv_regression_reports_rmse(tmp_path, capsys):
    lines = ["x1,x2,y"]
    for i in range(200):
        x1 = (i % 20) / 10 - 1
        x2 = (i // 20) / 5 - 1
        lines.append(f"{x1},{x2},{2.5 * x1 - x2 + 0.5}")
    path = tmp_path / "linear.csv"
    path.write_text("\n".join(lines) + "\n")
    result = main_train(
        capsys,
        "--out",
        str(tmp_path / "run"),
        "--data",
        str(path),
        "--target",
        "y",
        "--layers",
        "none",
        "--epochs",
        "60",
        "--lr",
        "0.01",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["task"] == "regression"
    assert "test_rmse" in report
    # A linear model fits this exact linear target; the RMSE must be tiny next to std(y) ~ 1.6.
    assert report["test_rmse"] < 0.05


def test_digits_reject_target(tmp_path, capsys):
    result = main_train(capsys, "--out", str(tmp_path), "--target", "label")
    assert_one_line_error(result)
    assert "CSV" in result.stderr


# --- output folder --------------------------------------------------------------------------


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    result = main_train(capsys, "--out", str(target), "--epochs", "1")
    assert_one_line_error(result)
    assert "is a file; give a folder" in result.stderr
    assert target.read_text() == "keep me"


def test_out_below_a_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("")
    result = main_train(capsys, "--out", str(tmp_path / "notes.txt" / "run"), "--epochs", "1")
    assert_one_line_error(result)
    assert "cannot write to the output folder" in result.stderr


def test_out_empty(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = main_train(capsys, "--out", "", "--epochs", "1")
    assert_one_line_error(result)
    assert "--out is empty" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- resume ---------------------------------------------------------------------------------


def train_two_epochs(capsys, out):
    result = main_train(capsys, "--out", str(out), "--epochs", "2", "--layers", "16")
    assert result.returncode == 0, result.stderr


def test_resume_fewer_epochs_than_done(tmp_path, capsys):
    train_two_epochs(capsys, tmp_path)
    result = main_train(capsys, "--out", str(tmp_path), "--resume", "--epochs", "1")
    assert_one_line_error(result)
    assert "--epochs 1 is fewer than the 2 epochs already done" in result.stderr


def test_resume_more_epochs_updates_settings(tmp_path, capsys):
    train_two_epochs(capsys, tmp_path)
    result = main_train(capsys, "--out", str(tmp_path), "--resume", "--epochs", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["epochs"] == 3
    saved = json.loads((tmp_path / "checkpoint.json").read_text())
    assert saved["metadata"]["settings"]["epochs"] == 3
    assert saved["config"]["epochs"] == 3


def damage_checkpoint(out):
    path = out / "checkpoint.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_damaged_checkpoint_suggests_overwrite(tmp_path, capsys):
    train_two_epochs(capsys, tmp_path)
    damage_checkpoint(tmp_path)
    result = main_train(capsys, "--out", str(tmp_path), "--epochs", "1")
    assert_one_line_error(result)
    assert "cannot be used" in result.stderr
    assert "--overwrite" in result.stderr


def test_resume_damaged_checkpoint(tmp_path, capsys):
    train_two_epochs(capsys, tmp_path)
    damage_checkpoint(tmp_path)
    result = main_train(capsys, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result)
    assert "cannot resume" in result.stderr
    assert "truncated" in result.stderr
    again = main_train(capsys, "--out", str(tmp_path), "--overwrite", "--epochs", "1")
    assert again.returncode == 0, again.stderr


def wait_for_lines(path, count, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines")


def history_without_seconds(path):
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in records]


def test_ctrl_c_then_resume_matches_uninterrupted(tmp_path):
    out = tmp_path / "run"
    options = ["--batch-size", "8", "--layers", "32", "--no-progress"]
    command = [sys.executable, "-m", "propagate", "train", "--out", str(out), *options]
    process = subprocess.Popen(
        [*command, "--epochs", "500"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell starts background jobs with SIGINT ignored; restore Ctrl-C's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for_lines(out / "history.jsonl", 2, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "--resume" in stderr

    done = len((out / "history.jsonl").read_text().splitlines())
    assert done < 500
    total = str(done + 1)
    resumed = run_train("--out", str(out), "--resume", "--epochs", total)
    assert resumed.returncode == 0, resumed.stderr
    reference = run_train("--out", str(tmp_path / "ref"), *options, "--epochs", total)
    assert reference.returncode == 0, reference.stderr
    assert history_without_seconds(out / "history.jsonl") == history_without_seconds(
        tmp_path / "ref" / "history.jsonl"
    )


# --- divergence and output ------------------------------------------------------------------


def test_adam_huge_lr_exits_1(tmp_path, capsys):
    result = main_train(capsys, "--out", str(tmp_path), "--lr", "1e6", "--epochs", "2")
    assert_one_line_error(result, status=1)
    assert "diverged at step 2" in result.stderr
    assert "largest gradient is that of '" in result.stderr


def test_divergence_json_report(tmp_path, capsys):
    result = main_train(
        capsys, "--out", str(tmp_path), "--optimizer", "sgd", "--lr", "1e6", "--json"
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["diverged"] is True
    assert "diverged at step" in report["error"]
    assert report["checkpoint"] is None


def test_json_is_strict(tmp_path, capsys):
    result = main_train(capsys, "--out", str(tmp_path), "--epochs", "1", "--json")
    assert result.returncode == 0, result.stderr

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    report = json.loads(result.stdout, parse_constant=reject)
    assert report["epochs"] == 1


def test_no_progress_bar_without_tty(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "propagate", "train", "--out", str(tmp_path), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_batch_larger_than_data_warns(tmp_path):
    result = run_train("--out", str(tmp_path), "--epochs", "1", "--batch-size", "100000")
    assert result.returncode == 0, result.stderr
    assert "batch size 100000 is larger than the 1438 training samples" in result.stderr
    assert "(1 steps)" in result.stdout


def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    from propagate.nn.train import Trainer

    def no_memory(self):
        raise MemoryError

    monkeypatch.setattr(Trainer, "fit", no_memory)
    result = main_train(capsys, "--out", str(tmp_path), "--epochs", "1")
    assert_one_line_error(result)
    assert "out of memory" in result.stderr


def test_semicolon_csv(tmp_path, capsys):
    rows = [f"{i % 7};{(i * 3) % 5};{'yes' if i % 2 else 'no'}" for i in range(40)]
    path = tmp_path / "data.csv"
    path.write_text("a;b;label\n" + "\n".join(rows) + "\n", encoding="utf-8-sig")
    result = main_train(
        capsys,
        "--data",
        str(path),
        "--target",
        "label",
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["task"] == "classification"


def test_monitor_writes_log_and_diagnosis(tmp_path, capsys):
    out = tmp_path / "run"
    result = main_train(capsys, "--epochs", "2", "--monitor", "5", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    lines = (out / "monitor.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == list(range(5, report["steps"] + 1, 5))
    assert report["monitor"] == str(out / "monitor.jsonl")
    assert report["findings"] == []


def test_monitor_zero_exits_2(tmp_path, capsys):
    result = main_train(capsys, "--monitor", "0", "--out", str(tmp_path / "run"))
    assert_one_line_error(result)
