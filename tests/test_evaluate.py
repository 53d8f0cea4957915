"""Closed-form heads and the least-squares expectation against independent computations."""

import numpy as np
import pytest
import torch

from dgl.train.heads import (
    Moments,
    fit_linear_head,
    float64_copy,
    head_mse,
    model_features,
    ols_expected_mse,
    stacked_features,
)
from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.stack import map_rows


def test_linear_head_equals_normal_equations():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200, 5))
    y = z @ np.arange(5.0) + 2.0 + 0.1 * rng.standard_normal(200)
    beta, c = fit_linear_head(z, y)
    design = np.hstack([z, np.ones((200, 1))])
    exact = np.linalg.solve(design.T @ design, design.T @ y)
    assert np.allclose(np.append(beta, c), exact)
    assert head_mse(z, y, beta, c) == pytest.approx(np.mean((y - design @ exact) ** 2))


def test_moments_by_chunks_equal_the_design_products():
    """Moments added chunk by chunk (in blocks: z^T z, column sums, count) equal [z, 1]^T [z, 1]
    and [z, 1]^T y of all rows at once, and their mse equals the mean squared residual."""
    rng = np.random.default_rng(2)
    z, y = rng.standard_normal((500, 4)), rng.standard_normal(500)
    acc = Moments(4)
    for start in (0, 120, 121, 400):
        stop = {0: 120, 120: 121, 121: 400, 400: 500}[start]
        acc.add(z[start:stop], y[start:stop])
    design = np.hstack([z, np.ones((500, 1))])
    assert np.allclose(acc.gram, design.T @ design) and np.allclose(acc.cross, design.T @ y)
    assert acc.n == 500 and acc.yy == pytest.approx(float(y @ y))
    coef = rng.standard_normal(5)
    assert acc.mse(coef) == pytest.approx(float(np.mean((y - design @ coef) ** 2)))


def test_float64_copy_converts_once():
    """float64_copy returns a float64 stack unchanged (no copy) and copies any other, leaving
    the original in float32; the features are the same either way."""
    model = StackedLateFusion(ModelConfig((3, 2), 4, "relu", 1),
                              torch.ones(2, 2, dtype=torch.bool), [1, 2])
    model64 = float64_copy(model)
    assert model64 is not model and model.head_weight.dtype == torch.float32
    assert model64.head_weight.dtype == torch.float64 and float64_copy(model64) is model64
    x = torch.randn(2, 30, 5)
    for a, b in zip(model_features(model, x), model_features(model64, x)):
        assert np.array_equal(a, b)


def test_linear_head_on_duplicated_features_is_exact():
    rng = np.random.default_rng(1)
    z1 = rng.standard_normal((100, 3))
    z = np.hstack([z1, z1, z1])  # rank 3 out of 9 columns (identical modalities, rho = 1)
    y = z1.sum(axis=1)
    beta, c = fit_linear_head(z, y)
    assert head_mse(z, y, beta, c) < 1e-20
    assert np.allclose(beta, np.tile(np.ones(3) / 3, 3))  # minimum-norm solution


def test_ols_expected_mse_by_monte_carlo():
    """E test MSE of least squares (p inputs, n rows, Gaussian design, no intercept) against
    simulation: sigma^2 (1 + p / (n - p - 1))."""
    rng = np.random.default_rng(2)
    n, p, sigma2, reps = 40, 6, 2.0, 4000
    mses = []
    for _ in range(reps):
        x = rng.standard_normal((n, p))
        y = x @ np.ones(p) + np.sqrt(sigma2) * rng.standard_normal(n)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        # exact conditional test MSE given coef: sigma^2 + ||coef - 1||^2
        mses.append(sigma2 + np.sum((coef - 1) ** 2))
    sem = np.std(mses) / np.sqrt(reps)
    assert np.mean(mses) == pytest.approx(ols_expected_mse(sigma2, p, n), abs=4 * sem)
    assert ols_expected_mse(1.0, 10, 10) == float("inf")


def test_linear_encoder_features_span_the_inputs():
    """A frozen linear encoder of width >= d keeps all information: its refit head is least
    squares on the raw inputs (the linear case of Huang et al.)."""
    torch.manual_seed(0)
    masks = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    model = StackedLateFusion(ModelConfig((3, 2, 4), 5, "linear", 1), masks, [3])
    x = torch.randn(1, 300, 9)
    y = (x[0, :, :5] @ torch.arange(5.0)).double().numpy() + np.random.default_rng(0).normal(size=300)
    (z,) = model_features(model, x)
    assert z.shape == (300, 10)  # only the subset's blocks, width 5 each
    beta, c = fit_linear_head(z[:200], y[:200])
    enc = head_mse(z[200:], y[200:], beta, c)
    raw = x[0, :, :5].double().numpy()
    beta_r, c_r = fit_linear_head(raw[:200], y[:200])
    assert enc == pytest.approx(head_mse(raw[200:], y[200:], beta_r, c_r), rel=1e-6)


def test_stacked_features_equal_each_models_own_features():
    """The stacked float32 features of models with different subsets of one size, each
    reading its own dataset on some rows, against each model's encoders applied one model at a
    time in float64 (model_features on its own inputs); mixed sizes are refused."""
    torch.manual_seed(0)
    masks = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=torch.bool)
    model = StackedLateFusion(ModelConfig((3, 2, 4), 5, "relu", 2), masks, [3, 4, 5])
    x = np.random.default_rng(0).standard_normal((2, 50, 9)).astype(np.float32)
    group, rows = [1, 0, 1], np.array([3, 7, 8, 20, 49, 0])
    z = stacked_features(model, x, group, rows, chunk=4)
    own = model_features(model, torch.as_tensor(x[group][:, rows]))
    assert z.dtype == torch.float32 and z.shape == (3, 6, 10)
    for e in range(3):
        assert np.allclose(z[e].numpy(), own[e], atol=1e-5)
    model.keep_models_(torch.tensor([0]))
    assert torch.allclose(stacked_features(model, x[:1]), torch.as_tensor(
        model_features(model, torch.as_tensor(x[:1]))[0], dtype=torch.float32)[None], atol=1e-5)
    mixed = StackedLateFusion(ModelConfig((3, 2, 4), 5, "relu", 2),
                              torch.tensor([[1, 1, 0], [0, 1, 0]], dtype=torch.bool), [3, 4])
    with pytest.raises(ValueError, match="one subset size"):
        stacked_features(mixed, x)


def test_chunked_predictions_equal_one_forward_pass():
    """Evaluation predicts chunk by chunk from each model's dataset (map_rows): the same
    numbers as one forward pass on every model's inputs at once."""
    torch.manual_seed(1)
    masks = torch.tensor([[1, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.bool)
    model = StackedLateFusion(ModelConfig((3, 2, 4), 5, "relu", 1), masks, [3, 4, 5])
    x = np.random.default_rng(1).standard_normal((2, 23, 9)).astype(np.float32)
    group = [1, 0, 1]
    with torch.no_grad():
        whole = model(torch.as_tensor(x[group]))
    assert torch.allclose(map_rows(model, x, group, chunk=5), whole, atol=1e-6)
    rows = np.array([22, 3, 4, 10])
    assert torch.allclose(map_rows(model, x, group, rows, chunk=3), whole[:, rows], atol=1e-6)
