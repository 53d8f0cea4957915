"""Exact classification ground truth against independent computations."""

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from synth import all_subsets, make_law
from synth.information import classification_information, pid_imin_classification, pid_mmi
from synth.law import ClassConditionalGaussianLaw


def two_class_law(delta: float = 1.5, prior0: float = 0.5) -> ClassConditionalGaussianLaw:
    means = np.array([[0.0, 0.0, 0.0], [delta, 0.5, 0.0]])
    load = np.array([[1.0, 0.0, 0.0], [0.3, 1.0, 0.0], [0.0, 0.0, 2.0]])
    return ClassConditionalGaussianLaw(np.array([prior0, 1 - prior0]), means,
                                       np.stack([load, load]), (2, 1))


@pytest.mark.parametrize("prior0", [0.5, 0.7])
def test_binary_closed_form_error_matches_monte_carlo(prior0):
    law = two_class_law(prior0=prior0)
    x, y = law.sample(400_000, np.random.default_rng(0))
    for subset in all_subsets(2):
        lp = law.log_posterior(x[:, law.columns(subset)], subset)
        mc_error = float((lp.argmax(1) != y).mean())
        se = np.sqrt(mc_error * (1 - mc_error) / len(y))
        assert law.binary_bayes_error(subset) == pytest.approx(mc_error, abs=4 * se)
    # modality 2 carries no class information: error = smaller prior
    assert law.binary_bayes_error((1,)) == pytest.approx(min(prior0, 1 - prior0))


def test_posterior_matches_empirical_frequencies_in_bins():
    law = make_law("latent_classes", snr=[1.0, 0.5], overlap=0.5, n_classes=3, synergy=0.6)
    x, y = law.sample(300_000, np.random.default_rng(1))
    post = np.exp(law.log_posterior(x, (0, 1)))[:, 0]
    bins = np.quantile(post, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(bins, post, side="right") - 1, 0, 9)
    for b in range(10):
        sel = idx == b
        freq = (y[sel] == 0).mean()
        se = np.sqrt(max(freq * (1 - freq), 1e-4) / sel.sum())
        assert post[sel].mean() == pytest.approx(freq, abs=4 * se + 1e-3)


def test_mutual_information_matches_numerical_integration_in_1d():
    means = np.array([[-1.0], [0.0], [2.0]])
    priors = np.array([0.2, 0.5, 0.3])
    law = ClassConditionalGaussianLaw(priors, means, np.ones((3, 1, 1)) * 0.8, (1,))

    def integrand(x):
        dens = priors * norm.pdf(x, means[:, 0], 0.8)
        p = dens.sum()
        return float((dens * np.log(dens / (priors * p))).sum())

    exact, _ = integrate.quad(integrand, -12, 14, limit=200)
    (info,) = classification_information(law, [(0,)], seed=0, halfwidth=0.002)
    assert info.mutual_information == pytest.approx(exact, abs=3 * info.mutual_information_hw)
    # and the Bayes accuracy by integration of max_c pi_c N(x; m_c)
    acc, _ = integrate.quad(lambda x: float((priors * norm.pdf(x, means[:, 0], 0.8)).max()),
                            -12, 14, limit=200, points=[-0.5, 1.0])
    assert info.bayes_accuracy == pytest.approx(acc, abs=info.bayes_accuracy_hw * 1.5)
    assert info.bayes_accuracy_hw < 0.002


def test_requested_halfwidth_is_met():
    law = make_law("latent_classes", snr=[2.0, 1.0], overlap=0.5)
    infos = classification_information(law, all_subsets(2), seed=3, halfwidth=0.002)
    assert all(i.bayes_accuracy_hw < 0.002 for i in infos)
    assert all(i.n_samples == infos[0].n_samples for i in infos)


def pid_pair(law, seed=0):
    a, b, ab = classification_information(law, [(0,), (1,), (0, 1)], seed=seed, halfwidth=0.003)
    return (pid_mmi(a.mutual_information, b.mutual_information, ab.mutual_information),
            pid_imin_classification(a, b, ab, law.priors))


def test_pid_identities_hold_for_both_definitions():
    law = make_law("latent_classes", snr=[4.0, 1.0], overlap=0.3, synergy=0.5)
    for atoms in pid_pair(law):
        assert atoms["redundancy"] + atoms["unique_a"] == pytest.approx(atoms["i_a"], abs=1e-12)
        assert atoms["redundancy"] + atoms["unique_b"] == pytest.approx(atoms["i_b"], abs=1e-12)
        total = atoms["redundancy"] + atoms["unique_a"] + atoms["unique_b"] + atoms["synergy"]
        assert total == pytest.approx(atoms["i_ab"], abs=1e-12)
        assert atoms["redundancy"] > 0.1  # informative modalities share redundancy
    mmi, imin = pid_pair(law)
    assert min(mmi["unique_a"], mmi["unique_b"]) == 0.0  # MMI: the weaker source has no unique info
    assert imin["redundancy"] <= mmi["redundancy"] + 1e-12


def test_limit_equal_snr_no_synergy_full_overlap_has_only_redundancy():
    law = make_law("latent_classes", snr=[2.0, 2.0], overlap=1.0, synergy=0.0)
    for atoms in pid_pair(law):
        for key in ("unique_a", "unique_b", "synergy"):
            assert abs(atoms[key]) < 1e-9


def test_added_information_grows_as_overlap_falls_and_synergy_knob_raises_synergy():
    added, unique_imin = [], []
    for rho in (1.0, 0.5, 0.0):
        mmi, imin = pid_pair(make_law("latent_classes", snr=[2.0, 2.0], overlap=rho))
        added.append(mmi["i_b_given_a"])
        unique_imin.append(imin["unique_a"] + imin["unique_b"])
    assert added[0] < added[1] < added[2]
    assert unique_imin[0] < unique_imin[1] < unique_imin[2]
    synergies = [pid_pair(make_law("latent_classes", snr=[4.0, 1.0], overlap=0.5, synergy=r))[0]
                 ["synergy"] for r in (0.0, 0.5, 0.9)]
    assert synergies[0] < synergies[1] < synergies[2]


def test_synergy_coordinates_carry_no_information_alone():
    law = make_law("latent_classes", snr=[1.0, 1.0], overlap=0.5, synergy=0.9, n_classes=4)
    base = make_law("latent_classes", snr=[1.0, 1.0], overlap=0.5, synergy=0.0, n_classes=4)
    for s in [(0,), (1,)]:
        a = classification_information(law, [s], seed=0, halfwidth=0.004)[0]
        b = classification_information(base, [s], seed=0, halfwidth=0.004)[0]
        assert a.mutual_information == pytest.approx(b.mutual_information, abs=1e-12)


def test_latent_classes_rejects_bad_knobs():
    for bad in [dict(snr=[]), dict(snr=[1.0, -1.0]), dict(overlap=2.0), dict(synergy=1.0),
                dict(snr=[1.0], synergy=0.5), dict(n_classes=1), dict(shared_noise="shared"),
                dict(nuisance_dims=[1, 2, 3])]:
        with pytest.raises(ValueError):
            make_law("latent_classes", **bad)


def test_latent_classes_marginal_noise_is_isotropic_and_snr_scales_it():
    law = make_law("latent_classes", snr=[4.0, 1.0], overlap=0.5, synergy=0.0)
    cov = law.covariances()[0]
    d1 = law.modality_dims[0]
    # within-class covariance of modality k: sigma_k^2 I except the synergy coordinate (var 1)
    eig1 = np.sort(np.linalg.eigvalsh(cov[:d1, :d1]))
    eig2 = np.sort(np.linalg.eigvalsh(cov[d1:, d1:]))
    assert np.allclose(eig1[:-1], 0.25) and np.isclose(eig1[-1], 1.0)
    assert np.allclose(eig2, 1.0)
