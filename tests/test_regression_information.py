"""Exact information of the regression generator: Gaussian MI and the two PIDs."""

import numpy as np
import pytest

from synth import make_law
from synth.ground_truth import pid_pairs, regression_pid
from synth.information import (
    gaussian_mutual_information,
    gaussian_specific_information_coefficients,
    pid_imin_regression,
)


def test_gaussian_mi_by_hand_and_infinite_without_noise():
    law = make_law("huang_overlap", n_modalities=2, dim=3, overlap=0.0, target_noise_var=1.0)
    # y = x_1 + x_2 + n: Var 7, r*({1}) = 4
    assert gaussian_mutual_information(law, (0,)) == pytest.approx(0.5 * np.log(7 / 4))
    clean = make_law("huang_overlap", n_modalities=2, dim=3, overlap=0.0)
    assert gaussian_mutual_information(clean, (0, 1)) == float("inf")


def test_specific_information_by_monte_carlo():
    law = make_law("huang_overlap", n_modalities=2, dim=2, overlap=0.3, target_noise_var=0.5)
    alpha, beta = gaussian_specific_information_coefficients(law, (0,))
    v, r = law.target_variance(), law.bayes_mse((0,))
    coef = law.covariance[law.columns((0,)), -1] @ np.linalg.pinv(
        law.covariance[np.ix_(law.columns((0,)), law.columns((0,)))])
    x, y = law.sample(400_000, np.random.default_rng(0))
    log_ratio = (-0.5 * np.log(r) - (y - x[:, :2] @ coef) ** 2 / (2 * r)
                 + 0.5 * np.log(v) + y**2 / (2 * v))
    # E[log p(y|x)/p(y) | y] over bins of y against alpha + beta y^2
    for lo, hi in [(-1, 1), (1.5, 2.5), (-4, -3)]:
        sel = (y > lo) & (y < hi)
        assert log_ratio[sel].mean() == pytest.approx(alpha + beta * (y[sel] ** 2).mean(),
                                                      abs=4 * log_ratio[sel].std() / np.sqrt(sel.sum()))


def test_imin_equals_mmi_for_scalar_gaussian_target_and_matches_quadrature():
    law = make_law("huang_overlap", n_modalities=3, dim=4, overlap=0.4, target_noise_var=2.0)
    for a, b in pid_pairs(3):
        imin = pid_imin_regression(law, a, b)
        mi_a, mi_b = (gaussian_mutual_information(law, s) for s in (a, b))
        assert imin["redundancy"] == pytest.approx(min(mi_a, mi_b), abs=1e-10)
        # brute force: Gauss-Hermite quadrature of E_y[min specific information]
        nodes, weights = np.polynomial.hermite_e.hermegauss(150)
        y = nodes * np.sqrt(law.target_variance())
        spec = [gaussian_specific_information_coefficients(law, s) for s in (a, b)]
        brute = (weights / weights.sum()) @ np.minimum(spec[0][0] + spec[0][1] * y**2,
                                                        spec[1][0] + spec[1][1] * y**2)
        assert imin["redundancy"] == pytest.approx(brute, abs=1e-4)


def test_regression_pid_limits():
    table = regression_pid("huang_overlap", {"n_modalities": 2, "dim": 5, "target_noise_var": 1.0},
                           [0.0, 0.5, 1.0])
    full = table.filter(table["overlap"] == 1.0)
    assert np.allclose(full[["unique_a", "unique_b", "synergy"]].to_numpy(), 0, atol=1e-9)
    assert set(table["pid"]) == {"mmi", "imin"}


def test_pid_pairs():
    assert pid_pairs(2) == [((0,), (1,))]
    pairs = pid_pairs(4)
    assert len(pairs) == 6 + 7 and ((0, 1), (2, 3)) in pairs
