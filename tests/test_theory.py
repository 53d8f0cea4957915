"""The eta estimator of the theory study on encoders whose eta is known from the generator's
law: the identity (eta = r*(S) - r*([K]) up to the finite-sample head) and a fixed random
projection (the Bayes risk of the projected inputs, computed exactly from the law)."""

import numpy as np
import polars as pl
import pytest

from dgl.studies.theory import fraction_metrics, fraction_rows, gamma_table, nested_pairs, slack_fit
from dgl.train.heads import ols_expected_mse
from synth import make_law
from synth.datasets import Splits, draw_datasets
from synth.ground_truth import classification_truth
from synth.law import psd_pinv

from stacks import fixed_linear_stack


def fraction_data(law, seeds, n_max, n_eval, overlap):
    """Every row of one dataset per seed, restricted to fraction 1 of the theory study (all
    n_max training rows, 20 % of them for validation, then the fresh rows)."""
    datasets = draw_datasets(law, overlap, seeds, n_max + n_eval)
    rows, splits = fraction_rows(Splits(n_max, n_eval, 0.2), 1.0)
    return datasets.rows(rows), splits


def test_identity_encoder_eta_regression():
    law = make_law("huang_overlap", n_modalities=3, dim=4, overlap=0.3, target_noise_var=0.5)
    seeds = [0, 1]
    data, splits = fraction_data(law, seeds, 4000, 20000, 0.3)
    stack = fixed_linear_stack([np.eye(4)] * 3, ["1", "1+2", "1+2+3"], seeds, law.modality_dims,
                               splits, overlap=0.3)
    m = fraction_metrics(stack, data, law)
    full = law.bayes_mse((0, 1, 2))
    for r in m.iter_rows(named=True):
        subset = tuple(int(c) - 1 for c in r["subset"].split("+"))
        expected = ols_expected_mse(law.bayes_mse(subset), 4 * len(subset), splits.n_fit) - full
        # test MSE of 20000 fresh rows: relative sd sqrt(2/20000) = 1 %
        assert r["eta"] == pytest.approx(expected, rel=0.05, abs=0.02)
        assert r["bayes_risk_all"] == pytest.approx(full)


def test_random_projection_eta_regression_matches_the_law():
    law = make_law("huang_overlap", n_modalities=2, dim=6, overlap=0.2, target_noise_var=0.2)
    rng = np.random.default_rng(3)
    proj = [rng.standard_normal((6, 2)) for _ in range(2)]  # each modality squeezed to 2 dims
    seeds = [0, 1]
    data, splits = fraction_data(law, seeds, 20000, 20000, 0.2)
    stack = fixed_linear_stack(proj, ["1", "1+2"], seeds, law.modality_dims, splits, overlap=0.2)
    m = fraction_metrics(stack, data, law)
    sigma = law.covariance
    for r in m.iter_rows(named=True):
        subset = tuple(int(c) - 1 for c in r["subset"].split("+"))
        # Bayes MSE of y given z = P^T x_S, exactly: Var(y) - c^T P (P^T S P)^+ P^T c
        blocks = [np.zeros((law.input_dim, 2)) for _ in subset]
        for b, k in zip(blocks, subset):
            b[law.columns((k,)), :] = proj[k]
        p = np.hstack(blocks)
        c = p.T @ sigma[:-1, -1]
        exact = sigma[-1, -1] - c @ psd_pinv(p.T @ sigma[:-1, :-1] @ p) @ c
        expected = ols_expected_mse(exact, p.shape[1], splits.n_fit) - law.bayes_mse((0, 1))
        assert r["eta"] == pytest.approx(expected, rel=0.05)
        assert r["eta"] > r["bayes_risk_subset"] - r["bayes_risk_all"]  # projection loses information


def test_identity_encoder_eta_classification():
    params = dict(snr=[2.0, 1.0], overlap=0.5, n_classes=3, nuisance_dims=0, shared_dim=2,
                  unique_dim=2)
    law = make_law("latent_classes", **params)
    truth, _ = classification_truth("latent_classes", params, 0, 0.003, 2_000_000)
    seeds = [0]
    data, splits = fraction_data(law, seeds, 30000, 30000, 0.5)
    dims = law.modality_dims
    stack = fixed_linear_stack([np.eye(d) for d in dims], ["1", "2", "1+2"], seeds, dims, splits,
                               overlap=0.5, n_classes=3)
    m = fraction_metrics(stack, data, law, truth)
    full = truth.filter(pl.col("subset") == "1+2")["bayes_cross_entropy"][0]
    for r in m.iter_rows(named=True):
        # LDA posteriors are a softmax of linear functions: the probe is well specified, so its
        # CE on fresh rows is the Bayes CE of the subset (up to estimation and test noise)
        assert r["refit_risk"] == pytest.approx(r["bayes_risk_subset"], abs=0.01)
        assert r["eta"] == pytest.approx(r["bayes_risk_subset"] - full, abs=0.01)


def test_gamma_and_slack_tables():
    rows = []
    for frac, n in ((0.1, 100), (1.0, 1000)):
        for seed in range(3):
            for subset, eta, risk in (("1", 0.5, 0.6 + 1 / np.sqrt(n)), ("1+2", 0.2, 0.25),
                                      ("2", 0.7, 0.8)):
                rows.append({"task": "t", "encoder": "e", "overlap": 0.0, "fraction": frac,
                             "n_train": n, "seed": seed, "subset": subset,
                             "eta": eta + 0.01 * seed, "model_risk": risk + 0.01 * seed})
    g = gamma_table(pl.DataFrame(rows), 2)
    assert set(zip(g["M"], g["N"])) == set(nested_pairs(2))
    r = g.filter((pl.col("M") == "1+2") & (pl.col("N") == "1") & (pl.col("fraction") == 1.0)).row(0, named=True)
    assert r["gamma"] == pytest.approx(-0.3) and r["verdict"] == "gamma<=0 beyond noise"
    assert r["slack"] == pytest.approx((0.25 - 0.6 - 1 / np.sqrt(1000)) + 0.3)
    fit = slack_fit(g)
    assert fit.height == 2 and {"c", "r2"} <= set(fit.columns)


def test_diverged_models_are_counted_not_averaged():
    """Seed 2's '1+2' model diverged (status 'diverged', no numbers): gamma for pairs with
    '1+2' uses seeds 0 and 1 only and says so; with one seed left the pair is 'diverged'; the
    per-subset aggregate counts it apart; the crossover search ignores it."""
    from dgl.studies.theory import _agg, crossover_table

    rows = []
    for seed in range(3):
        for subset, eta in (("1", 0.5), ("1+2", 0.2), ("2", 0.7)):
            bad = (seed == 2 and subset == "1+2") or (seed >= 1 and subset == "2")
            rows.append({"task": "t", "encoder": "e", "overlap": 0.0, "fraction": 1.0,
                         "n_train": 100, "seed": seed, "subset": subset, "n_modalities":
                         subset.count("+") + 1, "status": "diverged" if bad else "ok",
                         "eta": None if bad else eta + 0.01 * seed,
                         "model_risk": None if bad else eta + 0.1 + 0.01 * seed,
                         "model_acc": None, "refit_acc": None, "bayes_acc_all": None,
                         "bayes_acc_subset": None, "bayes_risk_subset": 0.1,
                         "bayes_risk_all": 0.05})
    frame = pl.DataFrame(rows, infer_schema_length=None)
    g = gamma_table(frame, 2)
    pair = g.filter((pl.col("M") == "1+2") & (pl.col("N") == "1")).row(0, named=True)
    assert pair["n_seeds"] == 2 and pair["n_diverged"] == 1
    assert pair["gamma"] == pytest.approx(-0.3)  # mean over seeds 0, 1 only
    lone = g.filter((pl.col("M") == "1+2") & (pl.col("N") == "2")).row(0, named=True)
    assert lone["verdict"] == "diverged" and lone["gamma"] is None and lone["n_diverged"] == 2
    agg = _agg(frame, ["task", "encoder", "overlap", "subset"]).filter(pl.col("subset") == "1+2")
    assert agg["n_seeds"][0] == 2 and agg["n_diverged"][0] == 1
    assert agg["eta"][0] == pytest.approx(0.205)  # (0.20 + 0.21) / 2, the diverged seed left out
    cross = crossover_table(frame, 2)
    assert cross.height == 2  # both pairs searched on the seeds that trained
