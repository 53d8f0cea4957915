"""The eta estimator of the theory study on encoders whose eta is known from the generator's
law: the identity (eta = r*(S) - r*([K]) up to the finite-sample head) and a fixed random
projection (the Bayes risk of the projected inputs, computed exactly from the law)."""

import numpy as np
import polars as pl
import pytest

from dgl.studies.latent import EtaConfig
from dgl.studies.common import fraction_rows
from dgl.studies.theory import (crossover_table, fraction_metrics, gamma_table,
                                nested_pairs)
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


ETA = EtaConfig(fit_rows=20_000, val_rows=5_000)


def test_identity_encoder_eta_regression():
    """Identity encoders lose nothing: eta = r*(S) - r*([K]) exactly (the infimum over heads
    is computed from the law); the head refit on the training rows carries the least-squares
    estimation error r*(S) p / (n - p - 1) on top, as its own column."""
    law = make_law("huang_overlap", n_modalities=3, dim=4, overlap=0.3, target_noise_var=0.5)
    seeds = [0, 1]
    data, splits = fraction_data(law, seeds, 4000, 20000, 0.3)
    stack = fixed_linear_stack([np.eye(4)] * 3, ["1", "1+2", "1+2+3"], seeds, law.modality_dims,
                               splits, overlap=0.3)
    m = fraction_metrics(stack, data, law, ETA)
    full = law.bayes_mse((0, 1, 2))
    for r in m.iter_rows(named=True):
        subset = tuple(int(c) - 1 for c in r["subset"].split("+"))
        assert r["eta_method"] == "exact" and r["eta_check"] == "ok"
        assert r["eta"] == pytest.approx(law.bayes_mse(subset) - full, abs=1e-9)
        expected = ols_expected_mse(law.bayes_mse(subset), 4 * len(subset), splits.n_fit) - full
        # test MSE of 20000 fresh rows: relative sd sqrt(2/20000) = 1 %
        assert r["eta_train_refit"] == pytest.approx(expected, rel=0.05, abs=0.02)
        assert r["bayes_risk_all"] == pytest.approx(full)


def test_random_projection_eta_regression_matches_the_law():
    law = make_law("huang_overlap", n_modalities=2, dim=6, overlap=0.2, target_noise_var=0.2)
    rng = np.random.default_rng(3)
    proj = [rng.standard_normal((6, 2)) for _ in range(2)]  # each modality squeezed to 2 dims
    seeds = [0, 1]
    data, splits = fraction_data(law, seeds, 20000, 20000, 0.2)
    stack = fixed_linear_stack(proj, ["1", "1+2"], seeds, law.modality_dims, splits, overlap=0.2)
    m = fraction_metrics(stack, data, law, ETA)
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
        # the encoder holds the projection in float32: equal to that precision
        assert r["eta"] == pytest.approx(exact - law.bayes_mse((0, 1)), rel=1e-6)
        expected = ols_expected_mse(exact, p.shape[1], splits.n_fit) - law.bayes_mse((0, 1))
        assert r["eta_train_refit"] == pytest.approx(expected, rel=0.05)
        assert r["eta"] > r["bayes_risk_subset"] - r["bayes_risk_all"]  # the projection loses


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
    m = fraction_metrics(stack, data, law, ETA, truth)
    full = truth.filter(pl.col("subset") == "1+2")["bayes_cross_entropy"][0]
    for r in m.iter_rows(named=True):
        # the identity keeps x_S: eta's infimum is the Bayes CE of the subset (Monte Carlo
        # over the exact posterior, two independent samples); the training-row probe is
        # well specified (LDA), so it is close too
        assert r["eta_method"] == "exact"
        assert r["eta"] == pytest.approx(r["bayes_risk_subset"] - full, abs=0.01)
        assert r["refit_risk_train"] == pytest.approx(r["bayes_risk_subset"], abs=0.01)


def series(rows_by_fraction, kind="regression", trivial=10.0, n_params=50, info=None):
    """Per-model metrics rows of one (task, encoder, overlap) series: for each (fraction,
    n_train) a dict subset -> (eta, model_risk, bayes_risk_subset) per seed (3 seeds; eta +
    0.01 per seed, the risk + 0.01 seed (seed + 1) len(subset), so pairs differ by seed)."""
    rows = []
    for (frac, n), subsets in rows_by_fraction.items():
        for seed in range(3):
            for subset, (eta, risk, bayes) in subsets.items():
                rows.append({"task": "t", "kind": kind, "encoder": "e", "overlap": 0.0,
                             "fraction": frac, "n_train": n, "seed": seed, "subset": subset,
                             "n_modalities": subset.count("+") + 1, "status": "ok",
                             "converged": True, "eta": eta + 0.01 * seed,
                             "model_risk": risk + 0.01 * seed * (1 + seed) * len(subset),
                             "bayes_risk_subset": bayes, "trivial_risk": trivial,
                             "n_params": n_params})
    return pl.DataFrame(rows)


def test_gamma_predictions_are_split_by_information_gain():
    """'1+2' adds information over '2' (r* 0.2 < 0.7): gamma <= 0 is the prediction; it adds
    none over '1' (r* equal): |gamma| <= margin is. A pair built to break each is caught."""
    subsets = {"1": (0.5, 0.6, 0.2), "1+2": (0.2, 0.25, 0.2), "2": (0.7, 0.8, 0.7)}
    g = gamma_table(series({(1.0, 1000): subsets}), 2, margin_share=0.01)
    assert set(zip(g["M"], g["N"])) == set(nested_pairs(2))
    r = {(x["M"], x["N"]): x for x in g.iter_rows(named=True)}
    gain, equal = r[("1+2", "2")], r[("1+2", "1")]
    assert gain["info_gain"] and gain["prediction"] == "gamma <= 0"
    assert gain["gamma"] == pytest.approx(-0.5) and gain["verdict"] == "held beyond noise"
    assert not equal["info_gain"] and equal["prediction"] == "|gamma| <= 0.1"
    assert equal["gamma"] == pytest.approx(-0.3) and equal["verdict"] == "violated beyond noise"
    worse = {"1": (0.5, 0.6, 0.2), "1+2": (0.62, 0.25, 0.2), "2": (0.5, 0.8, 0.7)}
    g2 = gamma_table(series({(1.0, 1000): worse}), 2, margin_share=0.01)
    r2 = {(x["M"], x["N"]): x for x in g2.iter_rows(named=True)}
    assert r2[("1+2", "2")]["verdict"] == "violated beyond noise"  # gamma = +0.12 > 0
    assert r2[("1+2", "1")]["verdict"] == "violated beyond noise"  # |0.12| > margin 0.1
    # per-seed gammas 0.05, 0.1, 0.15: the t interval [0.02, 0.18] straddles the margin
    noisy = series({(1.0, 1000): worse}).with_columns(
        pl.when(pl.col("subset") == "1+2").then(0.55 + 0.06 * pl.col("seed"))
        .otherwise(pl.col("eta")).alias("eta"))
    r3 = {(x["M"], x["N"]): x for x in gamma_table(noisy, 2).iter_rows(named=True)}
    assert r3[("1+2", "1")]["gamma"] == pytest.approx(0.1)
    assert r3[("1+2", "1")]["verdict"] == "within noise"


def test_theorem1_bound_is_one_sided_and_can_fail():
    """The slack (risk difference - gamma) against K C sqrt(p_M / m): a series whose slack is
    far above the bound at the small fraction is listed as a violation; below it, held."""
    subsets = {"1": (0.5, 0.6, 0.2), "1+2": (0.2, 0.25, 0.2), "2": (0.7, 0.8, 0.7)}
    big = {"1": (0.5, 0.6, 0.2), "1+2": (0.2, 9.0, 0.2), "2": (0.7, 0.8, 0.7)}
    g = gamma_table(series({(0.01, 100): big, (1.0, 10000): subsets}), 2, k_bound=1.0)
    bad = g.filter(pl.col("theorem1") == "violated")
    # slack of 1+2 vs 2 at m = 100: 9.0 - 0.8 + 0.5 = 8.7 > 1 * 10 * sqrt(50 / 100) = 7.07
    assert set(zip(bad["fraction"], bad["M"], bad["N"])) == {(0.01, "1+2", "2"),
                                                           (0.01, "1+2", "1")}
    one = g.filter((pl.col("fraction") == 1.0) & (pl.col("N") == "2")).row(0, named=True)
    # per seed: 0.25 - 0.8 + 0.5 plus the risk noise 0.02 s (s + 1) of '1+2' over '2'
    assert one["slack"] == pytest.approx(0.25 - 0.8 + 0.5 + 0.02 * (0 + 2 + 6) / 3)
    assert one["theorem1_bound"] == pytest.approx(10 * np.sqrt(50 / 10000))
    assert one["slack_hi"] > one["slack"] and one["theorem1"] == "held"


def test_crossover_counts_only_if_m_stays_better():
    """M better at fraction 0.01, worse at 0.1, better at 1: the crossover is 1, not 0.01; N
    better at the smallest fraction is the reversal."""
    def pair(m_risk):
        return {"1": (0.5, 0.5, 0.2), "1+2": (0.2, m_risk, 0.1), "2": (0.7, 0.9, 0.7)}
    frame = series({(0.001, 10): pair(0.8), (0.01, 100): pair(0.3), (0.1, 1000): pair(0.7),
                    (1.0, 10000): pair(0.2)})
    cross = crossover_table(frame, 2)
    row = cross.filter((pl.col("M") == "1+2") & (pl.col("N") == "1")).row(0, named=True)
    assert row["crossover_fraction"] == 1.0 and row["n_better_smallest"]


def test_stratified_small_samples_hold_k_rows_per_class():
    law = make_law("latent_classes", snr=[1.0, 1.0], n_classes=3, overlap=0.5)
    data = draw_datasets(law, 0.5, [0, 1, 2], 600, stratify=300)
    for y in data.y:
        for k in (1, 2, 5, 20):
            counts = np.bincount(y[: 3 * k], minlength=3)
            assert (counts == k).all(), (k, counts)
    plain = draw_datasets(law, 0.5, [0, 1, 2], 600)
    # the test rows (after the first 300) are as drawn; the training rows are the same rows
    assert np.array_equal(data.x[:, 300:], plain.x[:, 300:])
    assert sorted(map(tuple, data.x[0, :300])) == sorted(map(tuple, plain.x[0, :300]))
    rows, splits = fraction_rows(Splits(300, 300, 0.2), 10 / 300)
    assert splits.n_train == 10 and splits.n_val == 2
    assert len(set(data.y[0][rows][8:10].tolist())) == 2  # validation: rows of two classes


def test_diverged_models_are_counted_not_averaged():
    """Seed 2's '1+2' model diverged (status 'diverged', no numbers): gamma for pairs with
    '1+2' uses seeds 0 and 1 only and says so; with one seed left the pair is 'diverged'; the
    per-subset aggregate counts it apart; the crossover search ignores it."""
    from dgl.studies.theory import _agg, crossover_table

    rows = []
    for seed in range(3):
        for subset, eta in (("1", 0.5), ("1+2", 0.2), ("2", 0.7)):
            bad = (seed == 2 and subset == "1+2") or (seed >= 1 and subset == "2")
            rows.append({"task": "t", "kind": "regression", "encoder": "e", "overlap": 0.0,
                         "fraction": 1.0, "n_train": 100, "seed": seed, "subset": subset,
                         "n_modalities": subset.count("+") + 1,
                         "status": "diverged" if bad else "ok", "converged": not bad,
                         "eta": None if bad else eta + 0.01 * seed,
                         "model_risk": None if bad else eta + 0.1 + 0.01 * seed,
                         "eta_train_refit": None, "eta_check": None if bad else "ok",
                         "model_acc": None, "head_acc": None, "bayes_acc_all": None,
                         "bayes_acc_subset": None, "bayes_risk_subset": 0.1 if subset != "2"
                         else 0.3, "bayes_risk_all": 0.05, "trivial_risk": 1.0,
                         "n_params": 10})
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
