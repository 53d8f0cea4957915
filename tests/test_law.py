"""The Bayes-risk engine against hand derivations, an independent projection formula and
Monte Carlo."""

import numpy as np
import pytest

from synth import all_subsets, make_law
from synth.law import LinearGaussianLaw, psd_pinv


def huang_bayes_by_hand(k: int, d: int, rho: float, subset: tuple[int, ...]) -> float:
    """Hand derivation for the Huang generator.

    y = (1 + (K-1) rho) sum x_1 + (1 - rho) sum_{k>=2} sum e_k. If modality 1 is observed,
    x_1 and every observed e_k are known: r* = d (1 - rho)^2 (K - |S|). If it is not (rho < 1),
    the observed x_k = rho x_1 + (1 - rho) e_k are exchangeable; per coordinate, y's
    unexplained variance follows from the 1 + |S| latent Gaussian model below.
    """
    if 0 in subset:
        return d * (1 - rho) ** 2 * (k - len(subset))
    m = len(subset)
    a = 1 + (k - 1) * rho  # weight of x_1 in y (per coordinate)
    b = 1 - rho  # weight of each e_j in y
    # per coordinate: observations o_j = rho u + b e_j, j in S; y_c = a u + b sum_all e_j
    cov_oo = rho**2 * np.ones((m, m)) + b**2 * np.eye(m)
    cov_oy = rho * a * np.ones(m) + b * b * np.ones(m)
    var_y = a**2 + (k - 1) * b**2
    return d * (var_y - cov_oy @ np.linalg.pinv(cov_oo) @ cov_oy)


@pytest.mark.parametrize("rho", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_huang_bayes_matches_hand_derivation(rho):
    law = make_law("huang_overlap", n_modalities=4, dim=100, overlap=rho)
    for subset in all_subsets(4):
        assert law.bayes_mse(subset) == pytest.approx(
            huang_bayes_by_hand(4, 100, rho, subset), abs=1e-8, rel=1e-9
        )


def test_paper_headline_values():
    # The paper's Table 4 is close to these exact values: {1}: 3d(1-rho)^2, ..., all four: 0.
    for rho, expected in [(0.0, 300.0), (0.2, 192.0), (0.5, 75.0), (0.8, 12.0), (1.0, 0.0)]:
        law = make_law("huang_overlap", overlap=rho)
        assert law.bayes_mse((0,)) == pytest.approx(expected, abs=1e-9)
        assert law.bayes_mse((0, 1, 2, 3)) == pytest.approx(0.0, abs=1e-9)


def test_scalar_case_by_hand():
    # x = w1, y = 2 w1 + 3 w2: r*({x}) = 9, Var(y) = 13.
    law = LinearGaussianLaw(np.array([[1.0, 0.0], [2.0, 3.0]]), (1,))
    assert law.bayes_mse((0,)) == pytest.approx(9.0)
    assert law.target_variance() == pytest.approx(13.0)


def test_target_noise_adds_to_every_subset():
    base = make_law("huang_overlap", n_modalities=3, dim=5, overlap=0.3)
    noisy = make_law("huang_overlap", n_modalities=3, dim=5, overlap=0.3, target_noise_var=2.5)
    for subset in all_subsets(3):
        assert noisy.bayes_mse(subset) == pytest.approx(base.bayes_mse(subset) + 2.5)


def test_covariance_formula_equals_projection_of_loadings():
    """Independent computation: y = l_y w, x_S = L_S w, so Var(y | x_S) is the squared norm of
    l_y minus its projection on the row space of L_S (least squares on the loadings)."""
    rng = np.random.default_rng(0)
    for trial in range(20):
        dims = tuple(int(d) for d in rng.integers(1, 4, size=3))
        m = int(rng.integers(2, 9))
        loading = rng.standard_normal((sum(dims) + 1, m))
        if trial % 4 == 0:  # force a singular covariance: modality 2 copies modality 1
            loading[dims[0] : dims[0] + min(dims[0], dims[1])] = loading[: min(dims[0], dims[1])]
        law = LinearGaussianLaw(loading, dims)
        for subset in all_subsets(3):
            l_s = loading[law.columns(subset)]
            coef, *_ = np.linalg.lstsq(l_s.T, loading[-1], rcond=None)
            residual = loading[-1] - l_s.T @ coef
            assert law.bayes_mse(subset) == pytest.approx(residual @ residual, abs=1e-9)


def test_monte_carlo_least_squares_on_a_large_sample():
    law = make_law("huang_overlap", n_modalities=3, dim=3, overlap=0.4, target_noise_var=0.5)
    x, y = law.sample(400_000, np.random.default_rng(1))
    for subset in all_subsets(3):
        xs = x[:, law.columns(subset)]
        coef, *_ = np.linalg.lstsq(xs, y, rcond=None)
        mse = np.mean((y - xs @ coef) ** 2)
        exact = law.bayes_mse(subset)
        # the in-sample MSE of 9 coefficients on 4e5 rows: relative sd ~ sqrt(2/n) = 0.22 %
        assert mse == pytest.approx(exact, rel=0.01)


def test_psd_pinv_of_singular_matrix():
    a = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert np.allclose(psd_pinv(a), np.full((2, 2), 0.25))
