"""The stack optimisers against torch.optim (the reference): the same updates, bit for bit,
including a step where a parameter has no gradient and a stack that loses models."""

import pytest
import torch

from dgl.train.optimizers import OPTIMIZERS, FusedAdam, FusedSGD


def _params(seed: int) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(5, 3, 4, generator=gen)),
            torch.nn.Parameter(torch.randn(5, 1, 4, generator=gen))]


def _loss(params, step: int) -> torch.Tensor:
    w, b = params
    x = torch.linspace(-1, 1, 12).reshape(1, 4, 3) * (1 + step)
    return ((x @ w + b) ** 2).sum() + (w ** 3).sum()


def _run(make_ours, make_theirs, skip_bias_at: int = 2, shrink_at: int = 4, steps: int = 7):
    """Steps with both optimisers; the bias gets no gradient at step ``skip_bias_at``, and
    models 0, 2 and 3 stay after step ``shrink_at``. The two parameter sets after all steps."""
    ours, theirs = _params(0), _params(0)
    opt, ref = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        for params, o in ((ours, opt), (theirs, ref)):
            o.zero_grad()
            loss = _loss(params, step)
            if step == skip_bias_at:  # the bias takes no part: no gradient, no step count
                loss = _loss([params[0], params[1].detach()], step)
            loss.backward()
            o.step()
        if step == shrink_at:
            keep = torch.tensor([0, 2, 3])
            ours = [torch.nn.Parameter(p.detach().index_select(0, keep)) for p in ours]
            opt = opt.keep(keep, ours)
            new = [torch.nn.Parameter(p.detach().index_select(0, keep)) for p in theirs]
            state = {n: {k: v.index_select(0, keep) if v.dim() else v.clone()
                         for k, v in ref.state[o].items()} for o, n in zip(theirs, new)}
            ref = make_theirs(new)
            for p in new:
                ref.state[p] = state[p]
            theirs = new
    return ours, theirs


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_fused_adam_is_torch_adam(weight_decay):
    ours, theirs = _run(
        lambda p: FusedAdam(p, lr=0.01, weight_decay=weight_decay),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=weight_decay, fused=True))
    for a, b in zip(ours, theirs):
        assert a.shape[0] == 3
        assert torch.equal(a, b)


def test_fused_adam_matches_its_formula():
    """Two steps of Adam by hand (the module docstring's formula), to float rounding."""
    p = torch.nn.Parameter(torch.tensor([[1.0, -2.0]]))
    opt = FusedAdam([p], lr=0.1, weight_decay=0.5)
    theta, m, v = p.detach().double().clone(), 0.0, 0.0
    for t, g in ((1, torch.tensor([[0.3, -0.1]])), (2, torch.tensor([[-0.2, 0.4]]))):
        p.grad = g.clone()
        opt.step()
        g = g.double() + 0.5 * theta
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        theta = theta - 0.1 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
    assert torch.allclose(p.detach().double(), theta, atol=1e-6)
    assert not torch.allclose(theta, torch.tensor([[1.0, -2.0]], dtype=torch.float64))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fused_sgd_is_torch_sgd(momentum):
    ours, theirs = _run(
        lambda p: FusedSGD(p, lr=0.01, momentum=momentum, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=momentum, weight_decay=0.1, fused=True),
        skip_bias_at=-1)  # torch's fused SGD cannot skip a parameter once it has momentum
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_a_mutated_update_is_caught():
    """The comparison can fail: another learning rate gives other parameters."""
    ours, theirs = _run(lambda p: FusedAdam(p, lr=0.011),
                        lambda p: torch.optim.Adam(p, lr=0.01, fused=True))
    assert not torch.equal(ours[0], theirs[0])


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty"):
        FusedAdam([], lr=0.1)
    with pytest.raises(ValueError, match="one device and dtype"):
        FusedAdam([torch.nn.Parameter(torch.zeros(1)),
                   torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=0.1)
    with pytest.raises(KeyError, match="known optimizers: \\['adam', 'sgd'\\]"):
        OPTIMIZERS.get("adamw")
