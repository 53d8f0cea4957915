"""Linear probes: the best linear head on frozen features, fitted to convergence.

For features z [E, n, h] (one frozen encoder per model) and labels y, the probe of model e is
the multinomial logistic regression

    (V_e, c_e) = argmin_{V, c} 1/n sum_i CE(z_{e,i} V + c, y_i) + lambda/2 ||V||^2,

a convex problem solved by L-BFGS with a strong-Wolfe line search on the stacked parameters
(the E problems are independent, so the sum's minimiser is every problem's minimiser).
``lambda`` (default 1e-4) only makes the optimum unique when classes are separable. Its test
cross-entropy minus the exact Bayes cross-entropy of the modality is the per-modality latent
quality eta (Huang et al. 2021); likewise for accuracy.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dgl.train.losses import accuracy_per_model, ce_per_model


def _standardise(z: Tensor) -> tuple[Tensor, Tensor]:
    mu = z.mean(dim=1, keepdim=True)
    sd = z.std(dim=1, keepdim=True).clamp_min(1e-6)
    return mu, sd


def fit_probe(z: Tensor, y: Tensor, n_classes: int, l2: float = 1e-4, max_iter: int = 300,
              tol: float = 1e-7) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fit probes on features ``z [E, n, h]`` and labels ``y [E, n]`` (float64 internally).
    Returns (V [E, h, C], c [E, 1, C], mu, sd), the features being standardised by (mu, sd)
    of the training rows first (this does not change the optimum of an unregularised probe)."""
    z = z.double()
    mu, sd = _standardise(z)
    zs = (z - mu) / sd
    e, n, h = z.shape
    v = torch.zeros(e, h, n_classes, dtype=torch.float64, device=z.device)
    c = torch.zeros(e, 1, n_classes, dtype=torch.float64, device=z.device)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(torch.float64)
    zs_t = zs.transpose(1, 2).contiguous()
    opt = torch.optim.LBFGS([v, c], lr=1, max_iter=max_iter, tolerance_grad=tol,
                            tolerance_change=tol * 1e-3, history_size=20,
                            line_search_fn="strong_wolfe")

    @torch.no_grad()
    def closure() -> Tensor:
        """Objective and its gradient in closed form (no autograd graph):
        d/dV = z^T (softmax(zV + c) - onehot(y)) / n + lambda V, d/dc = column sums."""
        logits = torch.baddbmm(c, zs, v)
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)
        ce = (lse.squeeze(-1) - (logits * onehot).sum(-1)).mean(dim=1)
        resid = (torch.exp(logits - lse) - onehot) / n
        v.grad = torch.bmm(zs_t, resid) + l2 * v
        c.grad = resid.sum(dim=1, keepdim=True)
        return ce.sum() + 0.5 * l2 * (v**2).sum()

    opt.step(closure)
    return v, c, mu, sd


@torch.no_grad()
def probe_metrics(z: Tensor, y: Tensor, probe: tuple[Tensor, Tensor, Tensor, Tensor]
                  ) -> tuple[Tensor, Tensor]:
    """Accuracy and mean cross-entropy (nats) of fitted probes on ``z [E, n, h]``: two [E]."""
    v, c, mu, sd = probe
    logits = torch.baddbmm(c, (z.double() - mu) / sd, v)
    return accuracy_per_model(logits, y), ce_per_model(logits, y)
