"""The main study's regimes and pairing: exact Bayes values of every regime against a Monte
Carlo with an independently computed posterior, and the same data, initialisation and order
for every method of a seed."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import stats
from scipy.special import logsumexp

from dgl.studies.main import MainStudy
from dgl.train.models import StackedLateFusion
from synth.information import classification_information

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())["main"]
SMALL = yaml.safe_load((ROOT / "tests" / "config" / "small.yaml").read_text())["main"]


@pytest.mark.parametrize("regime", sorted(DEFAULT["regimes"]))
@pytest.mark.parametrize("overlap", [0.0, 1.0])
def test_regime_bayes_accuracy_matches_monte_carlo_with_scipy_posterior(regime, overlap):
    """Bayes accuracy of every subset from :func:`classification_information` against 4 000
    fresh draws classified by the posterior computed here from scipy's Gaussian densities
    (priors x N(x_S; mu_c, Sigma_c)), which must also equal the law's own log posterior."""
    study = MainStudy.from_config(DEFAULT)
    law = study.regime_law(regime).build(overlap=overlap)
    x, y = law.sample(4000, np.random.default_rng(123))
    covs = law.covariances()
    for subset in ((0,), (1,), (0, 1)):
        cols = law.columns(subset)
        logp = np.stack([np.log(law.priors[c]) + stats.multivariate_normal(
            law.means[c, cols], covs[c][np.ix_(cols, cols)], allow_singular=True).logpdf(x[:, cols])
            for c in range(law.n_classes)], axis=1)
        logp -= logsumexp(logp, axis=1, keepdims=True)
        np.testing.assert_allclose(law.log_posterior(x[:, cols], subset), logp, atol=1e-6)
        mc = float((logp.argmax(axis=1) == y).mean())
        (info,) = classification_information(law, [subset], seed=0, halfwidth=0.003,
                                             max_samples=400_000)
        sd = np.sqrt(info.bayes_accuracy * (1 - info.bayes_accuracy) / len(y))
        assert abs(mc - info.bayes_accuracy) < 4 * sd + info.bayes_accuracy_hw


def test_lazy_regime_has_a_saturating_strong_and_a_weak_modality():
    """The premises of the regimes, from the exact law: modality 1 alone is near-perfect,
    modality 2 alone far from it, in both (the control only shows modality 2's signal without
    nuisance dimensions, which changes no Bayes value: they carry no information)."""
    study = MainStudy.from_config(DEFAULT)
    acc = {}
    for regime in ("lazy", "control"):
        law = study.regime_law(regime).build(overlap=0.5)
        acc[regime] = [info.bayes_accuracy for info in classification_information(
            law, [(0,), (1,)], seed=0, halfwidth=0.005, max_samples=100_000)]
    assert acc["lazy"][0] > 0.98 and acc["lazy"][1] < 0.75
    assert acc["control"] == pytest.approx(acc["lazy"], abs=0.01)


def test_every_method_of_a_seed_shares_data_initialisation_and_order():
    study = MainStudy.from_config(SMALL)
    cell = study.cells()[0]
    plans = {p.variant + p.tag: cell.plan(p) for p in study.variants}
    joint = next(p for p in plans.values() if p.method == "joint")
    uni = next(p for p in plans.values() if p.method == "unimodal")
    for plan in plans.values():
        if plan.method != "unimodal":
            assert plan.specs == joint.specs and plan.splits == joint.splits
            assert plan.seeds("init") == joint.seeds("init")
            assert plan.seeds("order") == joint.seeds("order")
    # the unimodal model on modality 2 of a seed starts from the joint model's encoder 2
    by_key = {(s.overlap, s.seed, s.subset): e for e, s in enumerate(uni.specs)}
    m_joint = StackedLateFusion(joint.model, joint.masks(), joint.seeds("init"))
    m_uni = StackedLateFusion(uni.model, uni.masks(), uni.seeds("init"))
    for e, spec in enumerate(joint.specs):
        u = by_key[(spec.overlap, spec.seed, "2")]
        assert torch.equal(m_joint.enc_weight[1][e], m_uni.enc_weight[1][u])
        assert uni.seeds("order")[u] == joint.seeds("order")[e]
    # different seeds do not share them
    assert len(set(joint.seeds("init"))) == len({s.seed for s in joint.specs})
    # a fraction trains on a prefix of the same rows
    small, large = study.cells()[0], study.cells()[1]
    rows_small, rows_large = small.rows()[0], large.rows()[0]
    n = small.rows()[1].n_train
    assert (rows_small[:n] == rows_large[:n]).all()


def _laziness_rows(regime: str, gaps: list[tuple[float, float, float]]):
    import polars as pl

    return pl.DataFrame([{"regime": regime, "modality": 2, "overlap": 0.25 * i,
                          "n_train": 2000, "gap": g, "gap_lo": lo, "gap_hi": hi,
                          "headroom": 0.05} for i, (g, lo, hi) in enumerate(gaps)])


def test_laziness_findings_count_gaps_and_excluded_gaps():
    """A laziness gap needs >= 3 points with its interval above 0; a control must have every
    interval below 3 points. A control with one wide interval reaching 3 points fails that."""
    from dgl.studies.main import laziness_findings

    lazy = _laziness_rows("lazy", [(0.06, 0.05, 0.07), (0.035, -0.01, 0.08), (0.01, 0.0, 0.02)])
    (line,) = laziness_findings(lazy, {"lazy": 2})
    assert "beyond noise in 1 of 3" in line and "excluded (interval below 3 points) in 1" in line
    ok = _laziness_rows("control", [(0.01, 0.003, 0.02), (-0.01, -0.03, 0.01)])
    assert "excluded (interval below 3 points) in 2" in laziness_findings(ok, {"control": 2})[0]
    wide = _laziness_rows("control", [(0.01, 0.003, 0.02), (0.01, -0.02, 0.04)])
    assert "excluded (interval below 3 points) in 1" in laziness_findings(wide, {"control": 2})[0]


def test_random_encoders_measured_once_are_shown_at_every_fraction():
    """Only the largest fraction's cell measures the random encoders (they do not depend on
    the fraction); the tables pair them with every fraction's unimodal models, seed by seed."""
    import polars as pl

    from dgl.studies.main import chosen_models

    study = MainStudy.from_config(SMALL)
    holds = [c.holds_random() for c in study.cells()]
    assert sum(holds) == len(study.regimes) and all(
        c.fraction == max(study.fractions) for c in study.cells() if c.holds_random())
    rows = []
    for fraction, n in ((0.1, 20), (1.0, 200)):
        for seed in (0, 1):
            rows.append({"regime": "lazy", "fraction": fraction, "n_train": n, "seed": seed,
                         "variant": "unimodal", "method": "unimodal", "subset": "2",
                         "chosen": True, "head_acc": 0.5})
    for seed in (0, 1):
        rows.append({"regime": "lazy", "fraction": 1.0, "n_train": 200, "seed": seed,
                     "variant": "random", "method": "joint", "subset": "1+2", "chosen": True,
                     "head_acc": 0.3 + seed / 10})
    chosen = chosen_models(pl.DataFrame(rows))
    random = chosen.filter(pl.col("row") == "random").sort("fraction", "seed")
    assert random.select("fraction", "n_train", "seed", "head_acc").rows() == [
        (0.1, 20, 0, 0.3), (0.1, 20, 1, 0.4), (1.0, 200, 0, 0.3), (1.0, 200, 1, 0.4)]
