"""Output uncertainty of networks: engine vs exact Jacobian, closed forms, Monte Carlo."""

import subprocess
import sys

import numpy as np
import pytest

from propagate import nn
from propagate.check import (
    engine_jacobian,
    input_covariance,
    monte_carlo_covariance,
    output_uncertainty,
    symbolic_jacobian,
)
from propagate.check.networks import build_network
from propagate.check.trained import load_trained
from propagate.errors import CheckpointError, CovarianceError, ShapeError
from propagate.nn.data import load_digits


def random_cov(n, rng):
    a = rng.normal(size=(n, n))
    return 0.01 * (a @ a.T + n * np.eye(n)) / n


@pytest.mark.parametrize("outputs", ["logits", "probabilities"])
def test_engine_jacobian_exact(outputs):
    model = build_network((3, 4, 4, 3), "gelu", layernorm=True, residual=True, seed=1)
    x = np.random.default_rng(1).normal(size=(4, 3))
    values, jacobian = engine_jacobian(model, x, outputs)
    exact_values, exact = symbolic_jacobian(model, x, outputs)
    np.testing.assert_allclose(values, exact_values, rtol=1e-12)
    scale = np.abs(exact).max()
    assert np.abs(jacobian - exact).max() <= 1e-10 * scale


@pytest.mark.parametrize("outputs", ["logits", "probabilities"])
def test_covariance_engine_equals_graph(outputs):
    rng = np.random.default_rng(2)
    model = build_network((3, 5, 2), "tanh", layernorm=True, seed=2)
    x = rng.normal(size=(3, 3))
    cov = np.stack([random_cov(3, rng) for _ in range(3)])
    result = output_uncertainty(model, x, input_cov=cov, outputs=outputs)
    _, exact = symbolic_jacobian(model, x, outputs)
    expected = exact @ cov @ np.swapaxes(exact, 1, 2)
    scale = np.abs(expected).max()
    assert np.abs(result.covariance - expected).max() <= 1e-10 * scale


def test_linear_model_closed_form():
    # y = W x + b, so Σ_y = W Σ_x Wᵀ exactly.
    rng = np.random.default_rng(3)
    layer = nn.Linear(4, 3, rng=rng)
    cov = random_cov(4, rng)
    result = output_uncertainty(layer, rng.normal(size=(2, 4)), input_cov=cov, outputs="logits")
    expected = layer.weight.data @ cov @ layer.weight.data.T
    np.testing.assert_allclose(result.covariance[1], expected, rtol=1e-13)
    np.testing.assert_allclose(result.std[0], np.sqrt(np.diag(expected)), rtol=1e-13)


def test_probability_covariance_rows_sum_to_zero():
    # Probabilities sum to 1 for every input, so Σ_y · 1 = 0.
    model = build_network((4, 6, 5), "relu", seed=4)
    x = np.random.default_rng(4).normal(size=(3, 4))
    result = output_uncertainty(model, x, input_std=0.1)
    np.testing.assert_allclose(result.values.sum(axis=1), 1.0, rtol=1e-14)
    scale = np.abs(result.covariance).max()
    assert np.abs(result.covariance.sum(axis=2)).max() <= 1e-14 * scale


def test_torch_jacobian_agrees():
    torch = pytest.importorskip("torch")
    model = build_network((3, 4, 2), "softplus", seed=5)
    x = np.random.default_rng(5).normal(size=(2, 3))
    _, jacobian = engine_jacobian(model, x, "probabilities")
    weights = [torch.tensor(p.data) for p in model.parameters()]

    def forward(sample):
        hidden = torch.nn.functional.softplus(sample @ weights[0].T + weights[1])
        return torch.softmax(hidden @ weights[2].T + weights[3], dim=0)

    for n in range(2):
        expected = torch.autograd.functional.jacobian(forward, torch.tensor(x[n])).numpy()
        np.testing.assert_allclose(jacobian[n], expected, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("outputs", ["logits", "probabilities"])
def test_monte_carlo_within_sampling_error(outputs):
    rng = np.random.default_rng(6)
    model = build_network((3, 5, 3), "tanh", seed=6)
    x = rng.normal(size=(2, 3))
    cov = random_cov(3, rng) * 0.01
    samples = 20_000
    linear = output_uncertainty(model, x, input_cov=cov, outputs=outputs).covariance
    _, sampled = monte_carlo_covariance(model, x, input_cov=cov, outputs=outputs,
                                        samples=samples, seed=6)
    # Standard error of a sample covariance of normal data: sqrt((C_ii C_jj + C_ij²) / M).
    diagonal = np.diagonal(linear, axis1=1, axis2=2)
    standard_error = np.sqrt((diagonal[:, :, None] * diagonal[:, None, :] + linear**2) / samples)
    assert np.all(np.abs(sampled - linear) <= 5 * standard_error)


def test_monte_carlo_seeded():
    model = build_network((2, 3, 2), "tanh", seed=7)
    x = np.ones((1, 2))
    first = monte_carlo_covariance(model, x, input_std=0.1, samples=100, seed=3)
    second = monte_carlo_covariance(model, x, input_std=0.1, samples=100, seed=3)
    np.testing.assert_array_equal(first[1], second[1])


def test_input_std_forms():
    x = np.zeros((2, 3))
    scalar = input_covariance(x, input_std=0.5)
    per_feature = input_covariance(x, input_std=[0.5, 0.5, 0.5])
    per_sample = input_covariance(x, input_std=np.full((2, 3), 0.5))
    np.testing.assert_array_equal(scalar, per_feature)
    np.testing.assert_array_equal(scalar, per_sample)
    np.testing.assert_array_equal(scalar[1], 0.25 * np.eye(3))


def test_shared_cov_broadcast():
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    result = input_covariance(np.zeros((3, 2)), input_cov=cov)
    assert result.shape == (3, 2, 2)
    np.testing.assert_array_equal(result[2], cov)


def test_both_forms_rejected():
    with pytest.raises(CovarianceError, match="exactly one"):
        input_covariance(np.zeros((1, 2)), input_std=1.0, input_cov=np.eye(2))


def test_negative_std_rejected():
    with pytest.raises(CovarianceError, match="non-negative"):
        input_covariance(np.zeros((1, 2)), input_std=[0.1, -0.1])


def test_not_positive_semidefinite():
    cov = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(CovarianceError, match=r"sample 0 .*smallest eigenvalue -1"):
        input_covariance(np.zeros((1, 2)), input_cov=cov)


def test_asymmetric_rejected():
    with pytest.raises(CovarianceError, match="not symmetric"):
        input_covariance(np.zeros((1, 2)), input_cov=[[1.0, 0.1], [0.0, 1.0]])


def test_cov_shape_checked():
    with pytest.raises(ShapeError, match=r"\(2, 2\)"):
        input_covariance(np.zeros((1, 2)), input_cov=np.eye(3))


def test_unknown_outputs_rejected():
    with pytest.raises(ValueError, match="probabilities, logits"):
        engine_jacobian(build_network((2, 2)), np.ones((1, 2)), "scores")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    result = subprocess.run(
        [sys.executable, "-m", "propagate", "train", "--no-progress", "--out", str(out),
         "--epochs", "2", "--layers", "12", "--activation", "tanh"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_trained_pixel_uncertainty(digits_run):
    network = load_trained(digits_run)
    x, _ = load_digits(np.float64)
    result = network.output_uncertainty(x[:5], 0.5)
    assert result.values.shape == (5, 10)
    expected = output_uncertainty(
        network.model, network.standardise(x[:5]), input_std=0.5 / network.scaler.scale
    )
    np.testing.assert_allclose(result.covariance, expected.covariance, rtol=1e-13)


def test_trained_matches_monte_carlo_small(digits_run):
    # At 0.002 grey levels the tanh network is close to linear over the input spread, so
    # first order holds. At 0.5 grey levels it does not (see output_uncertainty).
    network = load_trained(digits_run)
    x, _ = load_digits(np.float64)
    result = network.output_uncertainty(x[:2], 0.002)
    _, sampled = monte_carlo_covariance(
        network.model, network.standardise(x[:2]), input_std=network.input_std(0.002),
        samples=20_000, seed=1,
    )
    variance = np.diagonal(result.covariance, axis1=1, axis2=2)
    sampled_variance = np.diagonal(sampled, axis1=1, axis2=2)
    mask = variance > 1e-14
    # The relative standard error of a sampled variance is sqrt(2 / 20000) = 1 %.
    assert np.all(np.abs(sampled_variance[mask] / variance[mask] - 1) < 0.06)


def test_trained_model_float32_kept(digits_run):
    network = load_trained(digits_run)
    assert all(p.data.dtype == np.float32 for p in network.model.parameters())


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_trained(tmp_path)
