"""Latent quality eta as an infimum over heads (dgl.studies.latent): the exact value for linear
encoders against a brute-force fit on a huge sample, the fresh-sample estimator against the
exact value, the model-risk invariant, and the injective / bottleneck linear case."""

import numpy as np
import pytest
import torch

from dgl.studies.latent import (EtaConfig, classification_head_risks, regression_head_risks)
from dgl.studies.stats import t_interval
from dgl.train.heads import encoder_maps
from dgl.train.stack import restore
from synth import make_law
from synth.datasets import Splits, draw_datasets
from synth.information import classification_information

from stacks import fixed_linear_stack

SMALL_ETA = EtaConfig(fit_rows=40_000, val_rows=10_000, mc_halfwidth=0.002)


def regression_case(width: int, seed: int = 0):
    """Huang data (K = 2, d = 4) and a fixed linear stack of every subset, encoder width
    ``width`` (>= 4: injective; < 4: a bottleneck)."""
    law = make_law("huang_overlap", n_modalities=2, dim=4, overlap=0.3, target_noise_var=0.5)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((4, width)) for _ in range(2)]
    splits = Splits(2000, 20000, 0.2)
    data = draw_datasets(law, 0.3, [0, 1], splits.n_total)
    stack = fixed_linear_stack(weights, ["1", "2", "1+2"], [0, 1], law.modality_dims, splits,
                               overlap=0.3)
    return law, data, stack


def test_exact_linear_head_risk_is_the_least_squares_limit():
    """The exact inf over linear heads equals least squares on 400 000 fresh rows."""
    law, data, stack = regression_case(width=2)
    restored = restore(stack)
    risks = regression_head_risks(stack, restored, {0.3: law}, data, SMALL_ETA)
    x, y = law.sample(400_000, np.random.default_rng(9))
    for e, spec in enumerate(stack.plan.specs):
        subset, weight, bias = encoder_maps(restored.model, e)
        z = x[:, law.columns(subset)] @ weight + bias
        design = np.hstack([z, np.ones((len(z), 1))])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        assert risks[e].method == "exact"
        assert risks[e].risk == pytest.approx(np.mean((design @ coef - y) ** 2), rel=0.01)


def test_fresh_estimator_reaches_the_exact_value():
    """The fresh-sample estimator (used for non-linear encoders) on a linear encoder: within
    sampling noise of the exact infimum, and never below it beyond noise."""
    law, data, stack = regression_case(width=3)
    restored = restore(stack)
    exact = regression_head_risks(stack, restored, {0.3: law}, data, SMALL_ETA)
    fresh = regression_head_risks(stack, restored, {0.3: law}, data, SMALL_ETA, method="fresh")
    for a, b in zip(exact, fresh):
        assert b.method == "fresh"
        # test MSE on 20 000 rows: relative sd about sqrt(2 / 20000) = 1 %
        assert b.risk == pytest.approx(a.risk, rel=0.04)


def test_injective_linear_encoder_gives_gamma_equal_to_the_bayes_gap():
    """Injective linear encoders lose nothing: eta(g_S) = r*(S) - r*([K]) exactly, so gamma
    = r*(M) - r*(N); a bottleneck (width 2 < d = 4) does not."""
    for width, injective in ((6, True), (2, False)):
        law, data, stack = regression_case(width=width)
        risks = regression_head_risks(stack, restore(stack), {0.3: law}, data, SMALL_ETA)
        by = {s.subset: r.risk for s, r in zip(stack.plan.specs, risks) if s.seed == 0}
        gamma = by["1+2"] - by["1"]
        exact = law.bayes_mse((0, 1)) - law.bayes_mse((0,))
        if injective:
            assert gamma == pytest.approx(exact, rel=1e-9, abs=1e-9)
        else:
            assert abs(gamma - exact) > 0.05 * abs(exact)


def test_model_risk_check_holds_and_can_fail():
    """The invariant inf_h r(h o g) <= r(model). A stack whose own head is random is far
    worse than the best head: ok. Give the models their best head and estimate the infimum
    from 8 fresh rows instead (and keep the model's own head out of the candidates): the
    estimate is above the model's risk, and the check says so. With the own head among the
    candidates, it is chosen on the held-out rows."""
    law, data, stack = regression_case(width=3)
    restored = restore(stack)
    risks = regression_head_risks(stack, restored, {0.3: law}, data, SMALL_ETA)
    assert all(r.check == "ok" and r.gap > 0 for r in risks)
    model = restored.model
    x, y = law.sample(200_000, np.random.default_rng(5))
    with torch.no_grad():
        for e in range(model.n_models):
            subset, weight, bias = encoder_maps(model, e)
            design = np.hstack([x[:, law.columns(subset)] @ weight + bias, np.ones((len(x), 1))])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            blocks = model.masks[e].nonzero().squeeze(1).tolist()
            model.head_weight[e].zero_()
            for j, k in enumerate(blocks):
                model.head_weight[e, 0, k * 3 : (k + 1) * 3] = torch.as_tensor(coef[j * 3 : (j + 1) * 3])
            model.head_bias[e, 0, 0] = float(coef[-1])
    starved = EtaConfig(fit_rows=8, val_rows=8, ridge=(0.0,), own_head=False)
    bad = regression_head_risks(stack, restored, {0.3: law}, data, starved, method="fresh")
    assert any(r.check == "violated" for r in bad)
    rescued = regression_head_risks(stack, restored, {0.3: law}, data,
                                    EtaConfig(fit_rows=8, val_rows=2000, ridge=(0.0,)),
                                    method="fresh")
    assert all(r.method == "own" and r.check == "ok" for r in rescued)
    assert all(r.check == "ok" for r in regression_head_risks(stack, restored, {0.3: law}, data,
                                                              SMALL_ETA))


def classification_case():
    params = dict(snr=[2.0, 1.0], overlap=0.5, n_classes=3, nuisance_dims=1, shared_dim=2,
                  unique_dim=2)
    law = make_law("latent_classes", **params)
    splits = Splits(2000, 20000, 0.2)
    data = draw_datasets(law, 0.5, [0], splits.n_total)
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((d, 2)) for d in law.modality_dims]
    stack = fixed_linear_stack(weights, ["1", "2", "1+2"], [0], law.modality_dims, splits,
                               overlap=0.5, n_classes=3)
    return law, data, stack


def test_classification_exact_and_fresh_heads_agree():
    """Linear encoders of an LDA law: the Bayes CE of z's law (exact) and a logistic probe
    fitted on fresh rows agree to the probe's estimation error."""
    law, data, stack = classification_case()
    restored = restore(stack)
    exact = classification_head_risks(stack, restored, {0.5: law}, data, SMALL_ETA)
    fresh = classification_head_risks(stack, restored, {0.5: law}, data, SMALL_ETA,
                                      method="fresh")
    for a, b in zip(exact, fresh):
        assert a.method == "exact" and b.method == "fresh"
        assert b.risk == pytest.approx(a.risk, abs=0.02)
        assert b.risk >= a.risk - 0.02  # no head beats the Bayes CE beyond noise


def test_exact_classification_head_is_the_image_laws_bayes_ce():
    law, data, stack = classification_case()
    restored = restore(stack)
    risks = classification_head_risks(stack, restored, {0.5: law}, data, SMALL_ETA)
    subset, weight, bias = encoder_maps(restored.model, 2)
    (info,) = classification_information(law.image(subset, weight, bias), [(0,)], 1, 0.002)
    assert risks[2].risk == pytest.approx(info.cross_entropy, abs=0.01)
    (full,) = classification_information(law, [(0, 1)], 1, 0.002)
    assert risks[2].risk > full.cross_entropy  # 2 + 2 features of 11 inputs lose information


def test_t_interval_is_scipys():
    from scipy import stats

    values = [0.3, -0.1, 0.25, 0.4, 0.05]
    mean, lo, hi = t_interval(values)
    ref = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert (lo, hi) == pytest.approx(ref) and mean == pytest.approx(np.mean(values))
    assert np.isnan(t_interval([1.0])[1])


def test_probe_groups_are_larger_on_cuda():
    """Probes are fitted 8 models at a time on the CPU (None: the CPU) and 64 on CUDA; an
    unknown device type fails loudly."""
    from dgl.studies.latent import probe_group_size

    assert probe_group_size(None) == probe_group_size("cpu") == 8
    assert probe_group_size("cuda") == probe_group_size(torch.device("cuda", 0)) == 64
    with pytest.raises(ValueError, match="known: \\['cpu', 'cuda'\\]"):
        probe_group_size("meta")
