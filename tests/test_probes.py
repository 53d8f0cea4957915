import numpy as np
import pytest
import torch

from dgl.train.probes import batched_lbfgs, fit_probe, probe_logits, probe_metrics
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
    """Each model of a stack has its own L-BFGS (curvature pairs, steps, stop), so stacking
    changes nothing but float32 rounding in the batched row products: stacked and
    one-at-a-time probes agree to 1e-6 nats at every tolerance, even a loose one (1e-3),
    where an optimiser shared between the models would stop them at other points."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 500, 5, generator=gen)
    y = (z[..., 0] + 0.5 * torch.randn(3, 500, generator=gen) > 0).long() + (z[..., 1] > 1).long()
    for tol in (1e-6, 5e-5, 1e-3):
        _check_stacked_equals_separate(z, y, tol, 1e-6)


def test_batched_lbfgs_finds_each_models_minimum_independently():
    """Quadratics f_e = 1/2 (theta - a_e)^T A_e (theta - a_e) with condition numbers from 1 to
    1e3: every model reaches its own minimiser a_e, and a model's iterates do not depend on
    the other models of the batch (the same result alone as beside a harder one)."""
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(3, 6, 6, generator=gen, dtype=torch.float64))
    scales = torch.stack([torch.ones(6), torch.logspace(0, 2, 6), torch.logspace(0, 3, 6)])
    hess = q @ torch.diag_embed(scales.double()) @ q.transpose(1, 2)
    target = torch.randn(3, 6, generator=gen, dtype=torch.float64)

    class Quadratic:
        def __init__(self, models):
            self.models = models
            self.select(torch.arange(len(models)))

        def select(self, active):
            self.a, self.h = target[self.models][active], hess[self.models][active]

        def __call__(self, theta):
            diff = theta - self.a
            grad = (self.h @ diff[..., None])[..., 0]
            return 0.5 * (diff * grad).sum(dim=1), grad

    both = batched_lbfgs(Quadratic([0, 2]), torch.zeros(2, 6, dtype=torch.float64), 1e-10, 500)
    alone = batched_lbfgs(Quadratic([0]), torch.zeros(1, 6, dtype=torch.float64), 1e-10, 500)
    assert torch.allclose(both, target[[0, 2]], atol=1e-8)
    assert torch.equal(both[0], alone[0])
    assert torch.allclose(batched_lbfgs(Quadratic([1]), torch.zeros(1, 6, dtype=torch.float64),
                                        1e-10, 500), target[[1]], atol=1e-8)


def _check_stacked_equals_separate(z, y, tol: float, within: float) -> None:
    stacked = fit_probe(z, y, 3, tol=tol)
    for e in range(3):
        single = fit_probe(z[e : e + 1], y[e : e + 1], 3, tol=tol)
        _, c1 = probe_metrics(z[e : e + 1], y[e : e + 1], single)
        _, c2 = probe_metrics(z, y, stacked)
        assert float(c1[0]) == pytest.approx(float(c2[e]), abs=within)


def test_probe_optimum_has_zero_autograd_gradient():
    """The closed-form gradient the solver uses, checked through autograd (float64) at its
    optimum: zero to float32's noise floor on these 400-row sums (about 1e-5; the products run
    in float32), where a wrong closed form would leave a gradient of order 1e-2."""
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 400, 6, generator=gen)
    y = torch.randint(0, 4, (2, 400), generator=gen)
    v, c, mu, sd = fit_probe(z, y, 4, l2=1e-2, tol=1e-7)
    v, c = v.clone().requires_grad_(), c.clone().requires_grad_()
    logits = torch.baddbmm(c, (z.double() - mu) / sd, v)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    loss = ce.view(2, -1).mean(1).sum() + 0.5 * 1e-2 * (v**2).sum()
    gv, gc = torch.autograd.grad(loss, (v, c))
    assert float(gv.abs().max()) < 5e-5 and float(gc.abs().max()) < 5e-5


def _reference_probe(z: np.ndarray, y: np.ndarray, n_classes: int, l2: float) -> np.ndarray:
    """The same probe by scipy (float64 throughout, a per-model problem, autograd-free
    gradient written independently): logits [n, C] on the standardised features."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    zs = (z - z.mean(0)) / z.std(0, ddof=1)
    n, h = zs.shape
    onehot = np.eye(n_classes)[y]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        v, c = theta[: h * n_classes].reshape(h, n_classes), theta[h * n_classes :]
        logits = zs @ v + c
        lse = logsumexp(logits, axis=1)
        prob = np.exp(logits - lse[:, None])
        value = float(np.mean(lse - (logits * onehot).sum(1)) + 0.5 * l2 * (v**2).sum())
        grad_v = zs.T @ (prob - onehot) / n + l2 * v
        grad_c = (prob - onehot).mean(0)
        return value, np.r_[grad_v.ravel(), grad_c]

    theta = minimize(objective, np.zeros((h + 1) * n_classes), jac=True, method="L-BFGS-B",
                     options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}).x
    return zs @ theta[: h * n_classes].reshape(h, n_classes) + theta[h * n_classes :]


def test_stacked_probes_agree_with_a_per_model_scipy_fit():
    """Every model of a stack of 10-class probes (the main study's shape, smaller) reaches the
    optimum an independent per-model scipy fit reaches: fitted to tol 1e-5, the same
    probabilities to 1e-3 and the same training cross-entropy to 1e-5 nats; at the default
    tol (5e-5), the same training cross-entropy to 2e-4 nats (the objective is flat in some
    directions, so single probabilities may move by 1e-2 while the objective does not)."""
    rng = np.random.default_rng(3)
    e, n, h, classes = 4, 3000, 6, 10
    means = rng.standard_normal((e, classes, h))
    y = rng.integers(0, classes, (e, n))
    z = means[np.arange(e)[:, None], y] + rng.standard_normal((e, n, h))
    probe = fit_probe(torch.tensor(z, dtype=torch.float32), torch.tensor(y), classes, tol=1e-5)
    ours = probe_logits(torch.tensor(z, dtype=torch.float32), probe)
    loose = probe_logits(torch.tensor(z, dtype=torch.float32),
                         fit_probe(torch.tensor(z, dtype=torch.float32), torch.tensor(y), classes))
    for m in range(e):
        ref = _reference_probe(z[m], y[m], classes, 1e-4)
        p_ref = np.exp(ref - ref.max(1, keepdims=True))
        p_ref /= p_ref.sum(1, keepdims=True)
        p_ours = torch.softmax(ours[m], dim=1).numpy()
        assert np.abs(p_ours - p_ref).max() < 1e-3
        ce_ref = float(np.mean(-np.log(p_ref[np.arange(n), y[m]])))
        ce_ours = float(np.mean(-np.log(p_ours[np.arange(n), y[m]])))
        assert ce_ours == pytest.approx(ce_ref, abs=1e-5)
        ce_loose = float(torch.nn.functional.cross_entropy(loose[m], torch.tensor(y[m])))
        assert ce_loose == pytest.approx(ce_ref, abs=2e-4)


def test_two_class_newton_probes_agree_with_a_per_model_scipy_fit():
    """Two classes go to the Newton probe (row products in blocks of 1 024 rows; here 3 000
    rows, so 3 blocks); the symmetric multinomial optimum of the scipy reference has the same
    probabilities: to 1e-4 per row and 1e-6 nats of training cross-entropy per model."""
    rng = np.random.default_rng(4)
    e, n, h = 3, 3000, 5
    y = rng.integers(0, 2, (e, n))
    z = rng.standard_normal((e, n, h)) + 0.8 * y[..., None] * rng.standard_normal((e, 1, h))
    zt = torch.tensor(z, dtype=torch.float32)
    ours = torch.softmax(probe_logits(zt, fit_probe(zt, torch.tensor(y), 2)), dim=2).numpy()
    for m in range(e):
        ref = _reference_probe(z[m], y[m], 2, 1e-4)
        p_ref = np.exp(ref - ref.max(1, keepdims=True))
        p_ref /= p_ref.sum(1, keepdims=True)
        assert np.abs(ours[m] - p_ref).max() < 1e-4
        rows = np.arange(n)
        assert float(np.mean(-np.log(ours[m][rows, y[m]]))) == pytest.approx(
            float(np.mean(-np.log(p_ref[rows, y[m]]))), abs=1e-6)


def test_compact_lbfgs_direction_equals_the_two_loop_recursion():
    """The compact form (Byrd, Nocedal and Schnabel 1994) is the same matrix H as the
    two-loop recursion: on pairs from a convex quadratic (s.y > 0) the directions agree to
    1e-10, with 1 to 20 pairs; a row with a pair of no curvature takes the two-loop path,
    which skips that pair."""
    from dgl.train.probes import _lbfgs_direction, _two_loop
    gen = torch.Generator().manual_seed(5)
    a, size = 4, 12
    q, _ = torch.linalg.qr(torch.randn(a, size, size, generator=gen, dtype=torch.float64))
    hess = q @ torch.diag_embed(torch.logspace(-2, 2, size).double().expand(a, -1)) \
        @ q.transpose(1, 2)
    for m in (1, 3, 20):
        s = torch.randn(a, m, size, generator=gen, dtype=torch.float64)
        y = torch.einsum("aij,amj->ami", hess, s)
        g = torch.randn(a, size, generator=gen, dtype=torch.float64)
        pairs = [(s[:, i], y[:, i], 1 / (s[:, i] * y[:, i]).sum(1)) for i in range(m)]
        expected = _two_loop(g, pairs)
        got = _lbfgs_direction(g, s, y)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    s[1, 0] = 0.0  # row 1's oldest pair has no curvature: skipped
    y[1, 0] = 0.0
    pairs = [(s[:, i], y[:, i], torch.where((s[:, i] * y[:, i]).sum(1) > 0,
                                            1 / (s[:, i] * y[:, i]).sum(1), 0.0))
             for i in range(s.shape[1])]
    torch.testing.assert_close(_lbfgs_direction(g, s, y), _two_loop(g, pairs),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_lbfgs_direction(g, s[:, :0], y[:, :0]), _two_loop(g, []))


def test_newton_from_a_far_start_reaches_the_same_optimum():
    """Undamped Newton on a logistic loss diverges from a start far out on the saturated
    sigmoid (the Hessian vanishes there); with the Armijo-damped steps taken while the
    decrement is large, a start at 30 times a random direction reaches the optimum found from
    zero, to 1e-6 per coefficient; a good start (the optimum itself) is kept, and a start worse
    than zero is not used (the result equals the fit from zero)."""
    from dgl.train.probes import _binary_objective, _newton, binary_design, fit_binary_probe
    gen = torch.Generator().manual_seed(6)
    z = torch.randn(2, 2000, 4, generator=gen)
    y = (z[..., 0] - 0.5 * z[..., 1] + torch.randn(2, 2000, generator=gen) > 0).long()
    _, w_zero = fit_binary_probe(z, y, 1e-4)
    design = binary_design(z)
    reg = torch.tensor([1e-4] * 4 + [0.0], dtype=torch.float64)
    far = 30 * torch.randn(2, 5, generator=gen, dtype=torch.float64)
    w_far = _newton(design[2], y.float(), reg, far, 60, 1e-12)
    torch.testing.assert_close(w_far, w_zero, rtol=0, atol=1e-6)
    undamped = _newton(design[2], y.float(), reg, far, 60, 1e-12, damped_above=float("inf"))
    assert not torch.allclose(undamped, w_zero, atol=1e-3)  # the damping is what converges
    assert _binary_objective(design[2], y.float(), reg, far).min() > np.log(2)
    _, w_bad = fit_binary_probe(z, y, 1e-4, start=far, design=design)
    torch.testing.assert_close(w_bad, w_zero, rtol=0, atol=1e-9)


def test_own_head_start_is_the_models_logits():
    """own_head gives each model's head as a linear head on the features the probes read (its
    subset's blocks, or one modality's encoder, concatenation and sum fusion): z V + c equals
    the model's own logits; binary_start turns a two-class head into the Newton probe's w on
    the standardised design, with the same logit difference."""
    from dgl.train.heads import own_head, stacked_features
    from dgl.train.models import ModelConfig, StackedLateFusion
    from dgl.train.probes import binary_design, binary_start
    torch.manual_seed(0)
    masks = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=torch.bool)
    x = torch.randn(3, 40, 9)
    for fusion in ("concat", "sum"):
        model = StackedLateFusion(ModelConfig((3, 2, 4), 5, "relu", 2, fusion), masks, [1, 2, 3])
        v, c = own_head(model)
        z = stacked_features(model, x)
        with torch.no_grad():
            torch.testing.assert_close(torch.baddbmm(c, z, v), model(x))
            feats = model.encode(x)
            for k in range(3):
                v_k, c_k = own_head(model, k)
                own = model.logits([model.contributions(feats)[k]])
                torch.testing.assert_close(torch.baddbmm(c_k, feats[k], v_k), own)
        mu, sd, design = binary_design(z)
        w = binary_start((v, c), mu, sd)
        diff = (torch.baddbmm(c, z, v)).double()
        torch.testing.assert_close(torch.bmm(design.double(), w[:, :, None])[..., 0],
                                   diff[..., 1] - diff[..., 0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="two classes"):
        fit_probe(z, torch.zeros(3, 40, dtype=torch.long), 3, start=(v, c))


def test_run_on_moves_tensors_there_and_results_back_to_the_cpu():
    """run_on hands the fit its tensors (also inside tuples) on the device asked for and
    returns its tensors (also inside tuples) on the CPU; non-tensors pass as they are; on the
    CPU its probes are select_probe's own, bit for bit."""
    from dgl.train.probes import run_on, select_probe

    seen = []

    def fit(a, pair, k, start=None):
        seen.append((a.device, [t.device for t in pair], k, start))
        return (a * 2, (pair[0] + 1,)), "done"

    a = torch.ones(2)
    (doubled, (plus,)), text = run_on("cpu", fit, a, (a, a), 3, start=None)
    assert seen == [(torch.device("cpu"), [torch.device("cpu")] * 2, 3, None)]
    assert text == "done" and doubled.device.type == plus.device.type == "cpu"
    assert torch.equal(doubled, 2 * a) and torch.equal(plus, a + 1)
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(2, 300, 4, generator=gen)
    y = (z[..., 0] + z[..., 1] > 0).long() + (z[..., 2] > 0.5).long()
    args = (z[:, :200], y[:, :200], z[:, 200:], y[:, 200:], 3, (1e-4, 1e-2))
    direct, moved = select_probe(*args), run_on("cpu", select_probe, *args)
    assert all(torch.equal(p, q) for p, q in zip(direct[0], moved[0]))
    assert torch.equal(direct[1], moved[1])
