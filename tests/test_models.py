"""The stacked head's hand-written backward against autograd through torch.baddbmm."""

import pytest
import torch

from dgl.train.models import stacked_linear


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
