"""Plots: valid, non-blank PNG files from a run's logs, and clear errors without them."""

import json
import sys

import numpy as np
import pytest

from propagate.errors import DataError, MissingDependencyError
from propagate.nn import plots
from propagate.nn.monitor import LayerStats, StepRecord, write_log

image = pytest.importorskip("matplotlib.image")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_records(steps=30, layers=5):
    records = []
    for step in range(1, steps + 1):
        stats = [
            LayerStats(name=f"{2 * i}", kind="Linear", weight_grad_norm=10.0 ** (i - 4) * step,
                       bias_grad_norm=0.01, delta_norm=10.0 ** (i - 5),
                       update_ratio=1e-3 * (i + 1), activation="Sigmoid",
                       saturated_fraction=0.1)
            for i in range(layers)
        ]
        records.append(StepRecord(step=step, loss=3.0 / step, lr=0.1, layers=stats))
    records[10].layers[1].weight_grad_norm = float("nan")
    records[11].layers[2].weight_grad_norm = 0.0
    return records


def make_history(epochs=3):
    return [{"epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "test_loss": 1.2 / e,
             "train_accuracy": 0.5 + 0.1 * e, "test_accuracy": 0.45 + 0.1 * e, "lr": 0.1}
            for e in range(1, epochs + 1)]


@pytest.fixture
def run_dir(tmp_path):
    write_log(tmp_path / "monitor.jsonl", make_records())
    (tmp_path / "history.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in make_history()))
    return tmp_path


def assert_valid_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = image.imread(path)
    assert pixels.ndim == 3
    assert pixels.std() > 0
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 1


def test_plot_run_writes_four_pngs(run_dir):
    written = plots.plot_run(run_dir)
    assert sorted(p.name for p in written) == ["grad_by_depth.png", "grad_heatmap.png",
                                                "loss.png", "update_ratio.png"]
    for path in written:
        assert_valid_png(path)
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_plot_run_with_history_only(tmp_path):
    (tmp_path / "history.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in make_history()))
    written = plots.plot_run(tmp_path)
    assert [p.name for p in written] == ["loss.png"]
    assert_valid_png(written[0])


def test_plot_run_with_monitor_only(tmp_path):
    write_log(tmp_path / "monitor.jsonl", make_records())
    assert len(plots.plot_run(tmp_path)) == 4


def test_gradient_by_depth_at_chosen_steps(tmp_path):
    path = plots.plot_gradient_by_depth(make_records(), tmp_path / "depth.png", steps=[1, 30])
    assert_valid_png(path)


def test_unrecorded_step_rejected(tmp_path):
    with pytest.raises(DataError, match=r"\[99\] were not recorded"):
        plots.plot_gradient_by_depth(make_records(), tmp_path / "depth.png", steps=[99])


def test_variants_comparison_plot(tmp_path):
    variants = {"a": make_records(), "b": make_records(layers=3)}
    assert_valid_png(plots.plot_variants(variants, tmp_path / "variants.png"))
    assert_valid_png(plots.plot_grad_norm_over_steps(variants, tmp_path / "norms.png"))


def test_missing_folder_rejected(tmp_path):
    with pytest.raises(DataError, match="not found"):
        plots.plot_run(tmp_path / "nowhere")


def test_folder_without_logs_rejected(tmp_path):
    with pytest.raises(DataError, match="neither history.jsonl nor monitor.jsonl"):
        plots.plot_run(tmp_path)


def test_empty_records_rejected(tmp_path):
    with pytest.raises(DataError, match="no monitor records"):
        plots.plot_gradient_heatmap([], tmp_path / "x.png")


def test_torn_history_line_skipped(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(make_history()[0]) + "\n" + '{"epoch": 2, "tr')
    assert len(plots.read_history(path)) == 1


def test_missing_matplotlib_names_install(run_dir, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r'pip install "propagate\[plots\]"'):
        plots.plot_run(run_dir)


def test_regression_history_plots_rmse(tmp_path):
    rows = [{"epoch": e, "step": 5 * e, "train_loss": 1.0 / e, "test_loss": 1.1 / e,
             "train_rmse": 2.0 / e, "test_rmse": 2.2 / e} for e in (1, 2, 3)]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = plots.plot_run(tmp_path)[0]
    assert_valid_png(path)


def test_history_row_not_object_rejected(tmp_path):
    path = tmp_path / "history.jsonl"
    first, second = (json.dumps(row) for row in make_history(2))
    path.write_text(first + "\n[1]\n" + second + "\n")
    with pytest.raises(DataError, match="line 2: expected a JSON object"):
        plots.read_history(path)


def test_binary_history_rejected(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\xff\xfe\x00\n")
    with pytest.raises(DataError, match="not UTF-8"):
        plots.read_history(path)
