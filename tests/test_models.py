"""The stacked head's hand-written backward against autograd through torch.baddbmm, and the
model's sparse forward against the dense late-fusion formula."""

import pytest
import torch

from dgl.train.models import ModelConfig, StackedLateFusion, stacked_linear


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
    c + sum_k z_k V_k^T (zero features for the missing modalities) bit for bit, and the same
    gradients, whatever the subsets (every modality seen by all, some or none of the models)."""
    masks = torch.tensor([[1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    cfg = ModelConfig((4, 3, 5), width=6, encoder=encoder, out_dim=out_dim, fusion=fusion)
    model = StackedLateFusion(cfg, masks, seeds=[3, 1, 4, 1])
    x = torch.randn(4, 9, 12, generator=torch.Generator().manual_seed(0))
    sparse = model(x)
    dense = model.logits(model.contributions(model.encode(x)))
    assert torch.equal(sparse, dense)
    g = torch.randn(sparse.shape, generator=torch.Generator().manual_seed(1))
    params = list(model.parameters())
    for a, b in zip(torch.autograd.grad(sparse, params, g), torch.autograd.grad(dense, params, g)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
