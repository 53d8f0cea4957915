"""The stacked head's hand-written backward against autograd through torch.baddbmm, and the
model's sparse forward against the dense late-fusion formula."""

import pytest
import torch

from dgl.train.models import (
    ENCODERS,
    ModelConfig,
    StackedLateFusion,
    one_output_branch,
    stacked_linear,
)


@pytest.mark.parametrize("out_dim", [1, 3])
def test_stacked_linear_matches_baddbmm_and_gradcheck(out_dim):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, out_dim, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 1, out_dim, generator=gen, dtype=torch.float64, requires_grad=True)
    out = stacked_linear(z, w, b)
    ref = torch.baddbmm(b, z, w.transpose(1, 2))
    torch.testing.assert_close(out, ref)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    mine = torch.autograd.grad(out, (z, w, b), g)
    theirs = torch.autograd.grad(ref, (z, w, b), g)
    for a, c in zip(mine, theirs):
        torch.testing.assert_close(a, c)
    assert torch.autograd.gradcheck(stacked_linear, (z, w, b))


@pytest.mark.parametrize("fusion", ["concat", "sum"])
@pytest.mark.parametrize("encoder", ["relu", "linear"])
@pytest.mark.parametrize("out_dim", [1, 3])
def test_forward_equals_dense_late_fusion(fusion, encoder, out_dim):
    """forward skips the modalities a model lacks; it must give the dense formula
    c + sum_k z_k V_k^T (zero features for the missing modalities), bit for bit with several
    outputs (the same products) and to rounding with one (:func:`one_output_branch` sums in
    another order), and the same gradients, whatever the subsets (every modality seen by all,
    some or none of the models)."""
    masks = torch.tensor([[1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    cfg = ModelConfig((4, 3, 5), width=6, encoder=encoder, out_dim=out_dim, fusion=fusion)
    model = StackedLateFusion(cfg, masks, seeds=[3, 1, 4, 1])
    x = torch.randn(4, 9, 12, generator=torch.Generator().manual_seed(0))
    sparse = model(x)
    dense = model.logits(model.contributions(model.encode(x)))
    if out_dim > 1:
        assert torch.equal(sparse, dense)
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-6)  # float32 rounding
    g = torch.randn(sparse.shape, generator=torch.Generator().manual_seed(1))
    params = list(model.parameters())
    for a, b in zip(torch.autograd.grad(sparse, params, g), torch.autograd.grad(dense, params, g)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("encoder", ["relu", "linear"])
def test_one_output_branch_matches_autograd(encoder):
    """The one-output branch's factored backward against autograd through the plain formula
    phi(x W + b) v^T (float64, with every input's gradient, the data's included), and
    gradcheck's finite differences."""
    gen = torch.Generator().manual_seed(2)
    shapes = [(3, 7, 4), (3, 4, 5), (3, 1, 5), (3, 1, 5)]  # x, W, b, v
    args = [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True)
            for s in shapes]
    phi = ENCODERS.get(encoder)
    out = one_output_branch(*args, phi)
    x, weight, bias, head = args
    ref = torch.bmm(phi.activation(torch.baddbmm(bias, x, weight)), head.transpose(1, 2))
    torch.testing.assert_close(out, ref)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(out, args, g), torch.autograd.grad(ref, args, g)):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda *t: one_output_branch(*t, phi), tuple(args))


@pytest.mark.parametrize("encoder", ["relu", "linear"])
def test_one_output_branch_blocks_equal_models_alone(encoder):
    """On a CPU the ReLU branch runs blocks of models (here 2 of 5: B h = 2^17 floats each);
    every model's output and gradients must be those of the model run alone, bit for bit."""
    gen = torch.Generator().manual_seed(3)
    shapes = [(5, 512, 3), (5, 3, 256), (5, 1, 256), (5, 1, 256)]  # x, W, b, v
    args = [torch.randn(s, generator=gen, requires_grad=True) for s in shapes]
    phi = ENCODERS.get(encoder)
    out = one_output_branch(*args, phi)
    g = torch.randn(out.shape, generator=gen)
    grads = torch.autograd.grad(out, args, g)
    for e in range(5):
        alone = [t[e : e + 1].detach().requires_grad_() for t in args]
        out_e = one_output_branch(*alone, phi)
        assert torch.equal(out_e, out[e : e + 1])
        for a, b in zip(torch.autograd.grad(out_e, alone, g[e : e + 1]), grads):
            assert torch.equal(a, b[e : e + 1])


def test_submodel_is_a_copy_of_the_members_alone():
    """A submodel holds the chosen models in the given order (masks too), gives their outputs
    bit for bit, and leaves the stack it came from whole."""
    masks = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    model = StackedLateFusion(ModelConfig((3, 2), 6, "relu", 3), masks, [1, 2, 3, 4])
    x = torch.randn(4, 7, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(x)
        sub = model.submodel([3, 1])
        assert sub.n_models == 2 and torch.equal(sub.masks, masks[[3, 1]])
        assert torch.equal(sub(x[[3, 1]]), full[[3, 1]])
        assert model.n_models == 4 and torch.equal(model(x), full)
    for (name, p), q in zip(model.named_parameters(), sub.parameters()):  # own storage
        assert q.shape[0] == 2 and q.data_ptr() != p.data_ptr(), name
    assert torch.equal(sub.users_0, torch.tensor([0, 1]))
    assert torch.equal(sub.users_1, torch.tensor([0]))
