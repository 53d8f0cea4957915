"""Gradient routing of every training method, checked exactly against autograd of the losses
the method is defined by."""

import pytest
import torch

from dgl.train.methods import METHODS, make_method
from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.losses import ce_per_model

DIMS = (4, 3, 2)


def setup(n_models=2, seed=0, fusion="concat"):
    gen = torch.Generator().manual_seed(seed)
    masks = torch.ones(n_models, len(DIMS), dtype=torch.bool)
    model = StackedLateFusion(ModelConfig(DIMS, 5, "relu", 3, fusion), masks, list(range(n_models)))
    x = torch.randn(n_models, 16, sum(DIMS), generator=gen)
    y = torch.randint(0, 3, (n_models, 16), generator=gen)
    return model, x, y


def grads(loss, params):
    return [g if g is not None else torch.zeros_like(p)
            for g, p in zip(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True), params)]


def enc_params(model, k):
    return [model.enc_weight[k], model.enc_bias[k]]


def head_params(model):
    return [model.head_weight, model.head_bias]


def uni_loss(model, x, y, k):
    feats = model.encode(x)
    return ce_per_model(model.head(model.fuse(model.only(feats, k))), y).sum()


def multi_loss(model, x, y):
    return ce_per_model(model(x), y).sum()


@pytest.mark.parametrize("fusion", ["concat", "sum"])
def test_dgl_routes_unimodal_gradients_to_encoders_and_multimodal_to_head(fusion):
    model, x, y = setup(fusion=fusion)
    method = make_method("dgl", alpha=3.0)
    model.zero_grad()
    method.loss(model, None, x, y, ce_per_model).backward()
    for k in range(len(DIMS)):
        expected = grads(3.0 * uni_loss(model, x, y, k), enc_params(model, k))
        for p, g in zip(enc_params(model, k), expected):
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)
    for p, g in zip(head_params(model), grads(multi_loss(model, x, y), head_params(model))):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)
    # the multimodal loss alone sends nothing to any encoder
    feats = model.encode(x)
    only_multi = method.multimodal_loss(model, feats, y, ce_per_model).sum()
    for k in range(len(DIMS)):
        assert all(float(g.abs().max()) == 0 for g in grads(only_multi, enc_params(model, k)))


def test_dgl_pid_unique_loss_reaches_only_its_encoder_and_aux_head():
    model, x, y = setup()
    method = make_method("dgl_pid", alpha=2.0, beta0=0.7, beta_schedule="fixed")
    extra = method.setup(model)
    feats = model.encode(x)
    unique = method.unique_losses(model, extra, feats, y, ce_per_model)  # [K, E]
    for i in range(len(DIMS)):
        for j in range(len(DIMS)):
            g = grads(unique[i].sum(), enc_params(model, j))
            if j == i:
                assert float(g[0].abs().max()) > 0
            else:
                assert all(float(t.abs().max()) == 0 for t in g)
        assert all(float(t.abs().max()) == 0 for t in grads(unique[i].sum(), head_params(model)))
        aux = grads(unique[i].sum(), [extra.weight[i], extra.weight[(i + 1) % len(DIMS)]])
        assert float(aux[0].abs().max()) > 0 and float(aux[1].abs().max()) == 0
    # total encoder gradient: alpha * unimodal + beta * unique
    model.zero_grad()
    extra.zero_grad()
    method.loss(model, extra, x, y, ce_per_model).backward()
    for k in range(len(DIMS)):
        feats = model.encode(x)
        u = method.unique_losses(model, extra, feats, y, ce_per_model)[k].sum()
        expected = grads(2.0 * uni_loss(model, x, y, k) + 0.7 * u, enc_params(model, k))
        for p, g in zip(enc_params(model, k), expected):
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-7)


def test_dgl_pid_adaptive_beta_is_larger_for_the_weaker_modality():
    method = make_method("dgl_pid", beta0=1.0, beta_clip=(0.25, 4.0), ema=0.0)
    uni = torch.tensor([[0.5, 0.2], [1.5, 0.2]])  # [K=2, E=2]: modality 2 weaker in model 1
    beta = method.betas(uni, torch.ones(2, 2, dtype=torch.bool))
    torch.testing.assert_close(beta[:, 0], torch.tensor([0.5, 1.5]))  # loss / mean loss
    torch.testing.assert_close(beta[:, 1], torch.tensor([1.0, 1.0]))
    off = make_method("dgl_pid", unique_estimator="none")
    assert off.setup(setup()[0]) is None


def test_dgl_pid_beta_follows_the_moving_average_of_the_unimodal_losses():
    """ema 0.5: Lbar_1 = L_1 (first step), Lbar_t = 0.5 Lbar_{t-1} + 0.5 L_t. Step 1: losses
    (1, 3) -> beta = (0.5, 1.5); step 2: losses (3, 1) -> Lbar = (2, 2) -> beta = (1, 1) (the
    instantaneous losses alone would give (1.5, 0.5)); step 3: (3, 1) -> Lbar = (2.5, 1.5) ->
    beta = (1.25, 0.75). Clipping to [0.9, 1.1] then caps the ratios."""
    method = make_method("dgl_pid", beta0=1.0, beta_clip=(0.1, 10.0), ema=0.5)
    masks = torch.ones(1, 2, dtype=torch.bool)
    steps = [([1.0, 3.0], [0.5, 1.5]), ([3.0, 1.0], [1.0, 1.0]), ([3.0, 1.0], [1.25, 0.75])]
    for losses, expected in steps:
        beta = method.betas(torch.tensor(losses)[:, None], masks)
        torch.testing.assert_close(beta[:, 0], torch.tensor(expected))
    clipped = make_method("dgl_pid", beta0=2.0, beta_clip=(0.9, 1.1), ema=0.5)
    for losses, _ in steps:
        beta = clipped.betas(torch.tensor(losses)[:, None], masks)
    torch.testing.assert_close(beta[:, 0], torch.tensor([2.2, 1.8]))  # 2 x clip(1.25), clip(0.75)
    # a model that leaves the stack takes its moving average with it
    method.keep_models(torch.tensor([0]))
    assert method.loss_ema.shape == (2, 1)


def test_ogm_ge_scales_encoder_weight_gradients_by_its_coefficients():
    model, x, y = setup()
    method = make_method("ogm_ge", alpha=0.8, noise=False)
    model.zero_grad()
    method.loss(model, None, x, y, ce_per_model).backward()
    before = [p.grad.clone() for p in list(model.enc_weight) + list(model.enc_bias)]
    head = [p.grad.clone() for p in head_params(model)]
    method.start_epoch(1)
    method.after_backward(model, None, x, y)
    coeff = method.last_coeff  # [K, E]: one modality per model modulated, the others 1
    assert ((coeff < 1).sum(dim=0) == 1).all() and float(coeff.max()) == 1.0
    for k in range(len(DIMS)):
        torch.testing.assert_close(model.enc_weight[k].grad, before[k] * coeff[k].view(-1, 1, 1))
        torch.testing.assert_close(model.enc_bias[k].grad, before[len(DIMS) + k])  # not modulated
    for p, g in zip(head_params(model), head):
        torch.testing.assert_close(p.grad, g)
    # with generalisation enhancement: noise of the unscaled gradient's standard deviation
    noisy = make_method("ogm_ge", alpha=0.8, noise=True, seed=1)
    model.zero_grad()
    noisy.loss(model, None, x, y, ce_per_model).backward()
    g0 = model.enc_weight[0].grad.clone()
    noisy.start_epoch(1)
    noisy.after_backward(model, None, x, y)
    resid = (model.enc_weight[0].grad - g0 * noisy.last_coeff[0].view(-1, 1, 1)).flatten(1)
    assert float(resid.abs().min()) > 0
    ratio = resid.std(dim=1) / g0.flatten(1).std(dim=1)
    assert float((ratio - 1).abs().max()) < 0.35  # 20 draws per model: loose, but not 0 or 2


def test_ogm_ge_coefficient_matches_a_hand_computed_case():
    """One row, class 0; modality 1's unimodal logits (ln 3, 0) + b/2, modality 2's (0, 0) + b/2
    with b = 0: s_1 = 3/4, s_2 = 1/2. Modality 1 dominates with r = 1.5, so (alpha 0.5)
    kappa_1 = 1 - tanh(0.75) = 0.3648512, kappa_2 = 1 (tanh(0.75) = 0.6351489...)."""
    masks = torch.ones(1, 2, dtype=torch.bool)
    model = StackedLateFusion(ModelConfig((1, 1), 1, "linear", 2), masks, [0])
    with torch.no_grad():
        for k in range(2):
            model.enc_weight[k].fill_(1.0)
            model.enc_bias[k].zero_()
        model.head_weight.copy_(torch.tensor([[[float(torch.log(torch.tensor(3.0))), 0.0],
                                               [0.0, 0.0]]]))
        model.head_bias.zero_()
    x, y = torch.ones(1, 1, 2), torch.zeros(1, 1, dtype=torch.long)
    method = make_method("ogm_ge", alpha=0.5, noise=False)
    torch.testing.assert_close(method.scores(model, x, y), torch.tensor([[0.75], [0.5]]))
    torch.testing.assert_close(method.coefficients(model, x, y),
                               torch.tensor([[0.3648512], [1.0]]), atol=1e-6, rtol=0)
    # the other way round (modality 2 dominant), and a tie modulates the first modality
    from dgl.train.methods import ogm_coefficients
    out = ogm_coefficients(torch.tensor([[0.5, 2.0], [0.75, 2.0]]), torch.ones(2, 2, dtype=torch.bool), 0.5)
    torch.testing.assert_close(out, torch.tensor([[1.0, 1 - 0.4621172], [0.3648512, 1.0]]))  # tie: r = 1, tanh(0.5)


def test_ogm_ge_modulates_only_inside_its_window():
    model, x, y = setup()
    method = make_method("ogm_ge", alpha=0.8, noise=False, starts=1, ends=2)
    for epoch, modulated in ((1, False), (2, True), (3, True), (4, False)):  # epochs from 1
        model.zero_grad()
        method.loss(model, None, x, y, ce_per_model).backward()
        g = model.enc_weight[0].grad.clone()
        method.start_epoch(epoch)
        method.after_backward(model, None, x, y)
        same = torch.equal(model.enc_weight[0].grad, g)
        assert same != modulated or bool((method.last_coeff[0] == 1).all())
    with pytest.raises(ValueError, match="starts <= ends"):
        make_method("ogm_ge", starts=3, ends=2)


def test_ume_trains_separate_heads_and_averages_their_logits():
    model, x, y = setup()
    method = make_method("ume")
    extra = method.setup(model)
    model.zero_grad()
    method.loss(model, extra, x, y, ce_per_model).backward()
    assert model.head_weight.grad is None or float(model.head_weight.grad.abs().max()) == 0
    feats = model.encode(x)
    mean = sum(extra(k, z) for k, z in enumerate(feats)) / len(DIMS)
    torch.testing.assert_close(method.logits(model, extra, x), mean)


def test_joint_and_unimodal():
    model, x, y = setup()
    model.zero_grad()
    make_method("joint").loss(model, None, x, y, ce_per_model).backward()
    for p, g in zip(head_params(model), grads(multi_loss(model, x, y), head_params(model))):
        torch.testing.assert_close(p.grad, g)
    with pytest.raises(ValueError, match="one modality"):
        make_method("unimodal").check(model)
    single = StackedLateFusion(ModelConfig(DIMS, 5, "relu", 3),
                               torch.tensor([[1, 0, 0], [0, 0, 1]], dtype=torch.bool), [0, 1])
    make_method("unimodal").check(single)


def test_registry_of_methods():
    assert {"unimodal", "joint", "dgl", "dgl_pid", "ogm_ge", "ume"} <= set(METHODS.names())
    with pytest.raises(KeyError, match="known methods"):
        make_method("no_such_method")
    with pytest.raises(ValueError):
        make_method("dgl", alpha=-1)
    with pytest.raises(ValueError):
        make_method("joint", alpha=1)


def test_per_model_options_equal_each_model_with_its_own_scalar():
    """A per-model option (one value per model, as train_plans passes a sweep trained as one
    stack) gives every model what the scalar option gives it alone: dgl's gradients, dgl_pid's
    betas (also after the stack drops a model) and OGM-GE's coefficients."""
    model, x, y = setup(n_models=2)
    task = ce_per_model
    params = list(model.parameters())
    both = grads(make_method("dgl", alpha=[0.5, 4.0]).loss(model, None, x, y, task), params)
    for e, alpha in enumerate((0.5, 4.0)):
        own = grads(make_method("dgl", alpha=alpha).loss(model, None, x, y, task), params)
        for a, b in zip(both, own):
            torch.testing.assert_close(a[e], b[e], rtol=0, atol=0)
    uni = torch.tensor([[0.5, 0.2, 0.9], [1.5, 0.2, 0.3]])
    masks = torch.ones(3, 2, dtype=torch.bool)
    pid = make_method("dgl_pid", beta0=[0.25, 1.0, 2.0], ema=0.0)
    beta = pid.betas(uni, masks)
    for e, b0 in enumerate((0.25, 1.0, 2.0)):
        alone = make_method("dgl_pid", beta0=b0, ema=0.0).betas(uni, masks)
        torch.testing.assert_close(beta[:, e], alone[:, e], rtol=0, atol=0)
    pid.keep_models(torch.tensor([2]))
    torch.testing.assert_close(pid.betas(uni[:, 2:], masks[2:])[:, 0],
                               make_method("dgl_pid", beta0=2.0, ema=0.0)
                               .betas(uni[:, 2:], masks[2:])[:, 0])
    from dgl.train.methods import ogm_coefficients
    scores = torch.tensor([[0.5, 2.0, 1.0], [0.75, 2.0, 3.0]])
    alphas = torch.tensor([0.1, 0.5, 1.0])
    coeff = ogm_coefficients(scores, torch.ones(2, 3, dtype=torch.bool), alphas)
    for e, alpha in enumerate(alphas.tolist()):
        alone = ogm_coefficients(scores, torch.ones(2, 3, dtype=torch.bool), alpha)
        torch.testing.assert_close(coeff[:, e], alone[:, e])
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        make_method("dgl", alpha=[1.0, -1.0])
