import numpy as np
import pytest
import torch

from dgl.train.probes import fit_probe, probe_metrics
from synth.law import ClassConditionalGaussianLaw


def test_probe_reaches_lda_bayes_on_gaussian_classes():
    """With class-conditional Gaussians sharing a covariance the Bayes posterior is a softmax of
    linear functions, so the probe's population CE is the Bayes CE: check on a large sample."""
    rng = np.random.default_rng(0)
    means = rng.standard_normal((3, 4))
    law = ClassConditionalGaussianLaw(np.full(3, 1 / 3), means, np.stack([np.eye(4)] * 3), (4,))
    x, y = law.sample(60_000, rng)
    lp = law.log_posterior(x, (0,))
    bayes_ce = float(-lp[np.arange(len(y)), y].mean())
    z = torch.tensor(x[None], dtype=torch.float32)
    yt = torch.tensor(y[None])
    probe = fit_probe(z[:, :40_000], yt[:, :40_000], 3)
    acc, ce = probe_metrics(z[:, 40_000:], yt[:, 40_000:], probe)
    test_bayes_ce = float(-lp[40_000:][np.arange(20_000), y[40_000:]].mean())
    assert float(ce[0]) == pytest.approx(test_bayes_ce, abs=0.01)
    assert float(acc[0]) == pytest.approx(float((lp[40_000:].argmax(1) == y[40_000:]).mean()), abs=0.01)
    assert bayes_ce > 0


def test_stacked_probes_equal_separate_fits():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 500, 5, generator=gen)
    y = (z[..., 0] + 0.5 * torch.randn(3, 500, generator=gen) > 0).long() + (z[..., 1] > 1).long()
    stacked = fit_probe(z, y, 3)
    for e in range(3):
        single = fit_probe(z[e : e + 1], y[e : e + 1], 3)
        a1, c1 = probe_metrics(z[e : e + 1], y[e : e + 1], single)
        a2, c2 = probe_metrics(z, y, stacked)
        assert float(c1[0]) == pytest.approx(float(c2[e]), abs=1e-6)


def test_probe_optimum_has_zero_autograd_gradient():
    """The closed-form gradient the solver uses, checked through autograd at its optimum."""
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 400, 6, generator=gen)
    y = torch.randint(0, 4, (2, 400), generator=gen)
    v, c, mu, sd = fit_probe(z, y, 4, l2=1e-2)
    v, c = v.clone().requires_grad_(), c.clone().requires_grad_()
    logits = torch.baddbmm(c, (z.double() - mu) / sd, v)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    loss = ce.view(2, -1).mean(1).sum() + 0.5 * 1e-2 * (v**2).sum()
    gv, gc = torch.autograd.grad(loss, (v, c))
    assert float(gv.abs().max()) < 1e-6 and float(gc.abs().max()) < 1e-6
