"""Optimisers of a model stack: torch's fused Adam and SGD kernels, called directly.

Each optimiser makes the update of ``torch.optim.Adam`` / ``torch.optim.SGD`` with
``fused=True``, bit for bit (the same kernels, ``torch._fused_adam_`` and
``torch._fused_sgd_``, on the same state; tested against torch.optim): for each parameter
theta with a gradient g at step t,

- Adam (Kingma and Ba 2015): g <- g + lambda theta; m <- beta1 m + (1 - beta1) g;
  v <- beta2 v + (1 - beta2) g^2; theta <- theta - lr (m / (1 - beta1^t)) /
  (sqrt(v / (1 - beta2^t)) + eps);
- SGD with momentum mu: g <- g + lambda theta; b <- g at the first step, else mu b + g;
  theta <- theta - lr b.

Why not torch.optim itself: ``torch.optim.Optimizer``'s constructor imports torch._dynamo
(1.1 s in each training job, measured) and its ``step`` wrapper (hooks, profiler records,
grouping by device and dtype) cost 0.3 ms a step, as much as a whole training step of the
theory study's small models. Here every parameter of a stack has one device and one dtype,
so one kernel call updates them all.

A parameter without a gradient at a step is skipped and its step count t does not advance,
as in torch.optim. :meth:`keep` follows the stack when models leave it: the per-model state
(moments, momentum buffers; model axis first) is indexed like the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from synth.registry import Registry


class StackOptimizer(Protocol):
    """What the trainer needs of an optimiser."""

    def zero_grad(self) -> None: ...

    def step(self) -> None: ...

    def keep(self, keep: Tensor, params: Sequence[Tensor]) -> StackOptimizer: ...


class _FusedOptimizer:
    """The part both optimisers share: the parameters (one device and dtype), dropping the
    gradients, and a step that updates the parameters that have a gradient (:meth:`_update`)."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("the optimiser got an empty parameter list")
        kinds = {(p.device, p.dtype) for p in self.params}
        if len(kinds) > 1:
            raise ValueError(f"every parameter of a stack needs one device and dtype, got {kinds}")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if idx:
            self._update(idx)

    def _update(self, idx: list[int]) -> None:
        raise NotImplementedError


class FusedAdam(_FusedOptimizer):
    """Adam over a stack's parameters (module docstring). The step counts live on the
    parameters' device, as torch's fused Adam keeps them, so the step can be captured in a
    CUDA graph."""

    def __init__(self, params: Sequence[Tensor], lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def _update(self, idx: list[int]) -> None:
        steps = [self.steps[i] for i in idx]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(
            [self.params[i] for i in idx], [self.params[i].grad for i in idx],
            [self.exp_avg[i] for i in idx], [self.exp_avg_sq[i] for i in idx], [], steps,
            amsgrad=False, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
            weight_decay=self.weight_decay, eps=self.eps, maximize=False,
            grad_scale=None, found_inf=None)

    def keep(self, keep: Tensor, params: Sequence[Tensor]) -> FusedAdam:
        """The optimiser of the stack shrunk to models ``keep``, whose parameters are
        ``params`` (in this optimiser's order)."""
        new = FusedAdam(params, self.lr, self.weight_decay, self.betas, self.eps)
        new.exp_avg = [m.index_select(0, keep) for m in self.exp_avg]
        new.exp_avg_sq = [v.index_select(0, keep) for v in self.exp_avg_sq]
        new.steps = [t.clone() for t in self.steps]
        return new


class FusedSGD(_FusedOptimizer):
    """SGD with momentum over a stack's parameters (module docstring); no dampening, no
    Nesterov step, as torch.optim.SGD's defaults."""

    def __init__(self, params: Sequence[Tensor], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[Tensor | None] = [None] * len(self.params)

    def _update(self, idx: list[int]) -> None:
        buffers = [self.buffers[i] for i in idx]
        first = self.momentum != 0 and all(b is None for b in buffers)
        if first:
            buffers = [torch.empty_like(self.params[i].grad) for i in idx]
        elif self.momentum != 0 and any(b is None for b in buffers):
            raise RuntimeError("a parameter got its first gradient after the first step: "
                               "fused SGD keeps one first-step flag for all of them")
        torch._fused_sgd_(
            [self.params[i] for i in idx], [self.params[i].grad for i in idx],
            buffers if self.momentum != 0 else [], weight_decay=self.weight_decay,
            momentum=self.momentum, lr=self.lr, dampening=0.0, nesterov=False,
            maximize=False, is_first_step=first, grad_scale=None, found_inf=None)
        if self.momentum != 0:
            for i, b in zip(idx, buffers):
                self.buffers[i] = b

    def keep(self, keep: Tensor, params: Sequence[Tensor]) -> FusedSGD:
        """The optimiser of the stack shrunk to models ``keep`` (see :meth:`FusedAdam.keep`)."""
        new = FusedSGD(params, self.lr, self.momentum, self.weight_decay)
        new.buffers = [None if b is None else b.index_select(0, keep) for b in self.buffers]
        return new


#: Optimiser factories by name: (parameters, training budget) -> stack optimiser.
OPTIMIZERS: Registry[Callable[..., StackOptimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam")(
    lambda params, cfg: FusedAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay))
OPTIMIZERS.register("sgd")(
    lambda params, cfg: FusedSGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                 weight_decay=cfg.weight_decay))
