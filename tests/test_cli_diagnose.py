"""The diagnose and plot commands through the command line, with their exit statuses."""

import json
import subprocess
import sys

import pytest

from propagate import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "propagate", *args], capture_output=True, text=True, timeout=300
    )


def assert_one_line_error(result):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def diagnose_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnose")
    result = run_cli("diagnose", "--steps", "30", "--depth", "10", "--variants",
                     "sigmoid,residual,rnn", "--out", str(out), "--no-plots", "--json")
    return result, out


def test_diagnose_json_exit_0(diagnose_run):
    result, _ = diagnose_run
    assert result.returncode == 0, result.stderr


def test_diagnose_json_has_variants(diagnose_run):
    result, out = diagnose_run
    data = json.loads(result.stdout)
    assert list(data["variants"]) == ["sigmoid", "residual", "rnn"]
    assert data["out"] == str(out)
    assert data["config"]["steps"] == 30
    assert data["plots"] == []


def test_diagnose_json_layer_norms(diagnose_run):
    result, _ = diagnose_run
    sigmoid = json.loads(result.stdout)["variants"]["sigmoid"]
    assert len(sigmoid["layers"]) == 11
    assert len(sigmoid["grad_norms"]) == 11
    assert len(sigmoid["delta_norms"]) == 11


def test_diagnose_sigmoid_vanishes_residual_not(diagnose_run):
    result, _ = diagnose_run
    variants = json.loads(result.stdout)["variants"]
    assert "vanishing_gradients" in [f["kind"] for f in variants["sigmoid"]["findings"]]
    assert "vanishing_gradients" not in [f["kind"] for f in variants["residual"]["findings"]]


def test_diagnose_rnn_explodes(diagnose_run):
    result, _ = diagnose_run
    findings = json.loads(result.stdout)["variants"]["rnn"]["findings"]
    assert findings[0]["kind"] == "exploding_gradients"
    assert findings[0]["remedies"]


def test_diagnose_writes_summary_and_report(diagnose_run):
    result, out = diagnose_run
    assert json.loads((out / "summary.json").read_text()) == json.loads(result.stdout)
    assert "vanishing gradients" in (out / "report.txt").read_text()


def test_plot_on_diagnose_folder(diagnose_run):
    _, out = diagnose_run
    result = run_cli("plot", str(out / "sigmoid"), "--json")
    assert result.returncode == 0, result.stderr
    paths = json.loads(result.stdout)["plots"]
    assert len(paths) == 4
    for path in paths:
        with open(path, "rb") as handle:
            assert handle.read(8) == PNG_SIGNATURE


def test_diagnose_text_output(tmp_path):
    result = run_cli("diagnose", "--steps", "10", "--depth", "3", "--variants", "relu",
                     "--out", str(tmp_path), "--no-plots")
    assert result.returncode == 0, result.stderr
    assert "weight-gradient norm" in result.stdout
    assert "== relu" in result.stdout


@pytest.mark.parametrize("args", [
    ["diagnose", "--depth", "0"],
    ["diagnose", "--steps", "ten"],
    ["diagnose", "--variants", "sigmoid,bogus"],
    ["diagnose", "--data", "mnist"],
    ["diagnose", "--lr", "-1"],
    ["plot", "/nonexistent/run/folder"],
    ["plot", ".", "--steps", "a,b"],
])
def test_bad_options_exit_2(args):
    assert_one_line_error(run_cli(*args))


def test_diagnose_depth_1_exit_2(tmp_path):
    result = run_cli("diagnose", "--depth", "1", "--out", str(tmp_path))
    assert_one_line_error(result)
    assert "depth" in result.stderr


def test_plot_folder_without_logs_exit_2(tmp_path):
    result = run_cli("plot", str(tmp_path))
    assert_one_line_error(result)
    assert "monitor.jsonl" in result.stderr


def test_plot_without_matplotlib_exit_2(diagnose_run, monkeypatch, capsys):
    _, out = diagnose_run
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    status = cli.main(["plot", str(out / "sigmoid")])
    error = capsys.readouterr().err
    assert status == 2
    assert 'pip install "propagate[plots]"' in error
    assert len(error.strip().splitlines()) == 1


@pytest.mark.parametrize("line", ['{"step":1,"loss":1.0,"layers":[1]}', "[1, 2]",
                                  '{"step":1,"loss":null,"layers":[]}'])
def test_plot_corrupt_log_exit_2(tmp_path, line):
    (tmp_path / "monitor.jsonl").write_text(line + '\n{"step":2,"loss":1.0,"layers":[]}\n')
    result = run_cli("plot", str(tmp_path))
    assert_one_line_error(result)
    assert "line 1" in result.stderr


def test_plot_history_row_not_object_exit_2(tmp_path):
    (tmp_path / "history.jsonl").write_text('{"epoch": 1, "train_loss": 1.0}\n[1]\n{}\n')
    result = run_cli("plot", str(tmp_path))
    assert_one_line_error(result)
    assert "line 2" in result.stderr


def test_diagnose_negative_seed_exit_2():
    result = run_cli("diagnose", "--seed", "-1")
    assert_one_line_error(result)
    assert "--seed" in result.stderr


def test_diagnose_out_file_exit_2(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("keep me\n")
    result = run_cli("diagnose", "--out", str(target), "--steps", "1", "--variants", "relu")
    assert_one_line_error(result)
    assert "is a file" in result.stderr
    assert target.read_text() == "keep me\n"


def test_diagnose_huge_depth_exit_2(tmp_path):
    result = run_cli("diagnose", "--depth", "100000000", "--out", str(tmp_path))
    assert_one_line_error(result)
    assert "depth 100000000" in result.stderr
