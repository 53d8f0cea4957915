"""Training methods, each a small unit registered by name in :data:`METHODS`.

Every method trains the same stacked model (encoders g_k, fusion, linear head h; see
:mod:`dgl.train.models`) with the same batched trainer; a method only says which loss reaches
which parameters. Notation, per model and minibatch: z_k = g_k(x_k); the multimodal logits
f(z) = h(fuse(z_1, ..., z_K)); the unimodal logits of modality k through the *shared* head,
f_k = h(fuse(0, ..., z_k, ..., 0)) (concatenation: W_k z_k + b); L(.) the task loss
(cross-entropy, or MSE for regression); sg(.) stop-gradient.

- ``joint``     L_multi = L(f(z)); every parameter gets its gradient (also on any subset).
- ``unimodal``  ``joint`` on a single modality (the model's subset must have one member).
- ``dgl``       Disentangled Gradient Learning (Wei et al., ICCV 2025):
                L = L(h(fuse(sg(z)))) + alpha sum_k L(h_sg(fuse(0, .., z_k, .., 0))),
                h_sg the head with its parameters detached: fusion and head are updated only by
                the multimodal loss on detached features; encoder k only by alpha times its
                unimodal loss (default alpha = 4).
- ``dgl_pid``   DGL plus a unique-information loss per encoder:
                L = L_dgl + sum_k beta_k L_unique_k, with the default estimator
                L_unique_k = CE(A_k z_k + c_k + sg(h(fuse(z_1, .., 0_k, .., z_K))), y): an auxiliary
                linear head (A_k, c_k) predicts y from z_k added to the detached logits of the
                other modalities, a variational bound on I(y; z_k | z_-k) (unique + synergistic
                information of z_k). Adaptive beta_k = beta_0 clip(Lbar_k / mean_j Lbar_j, lo, hi)
                with Lbar_k an exponential moving average (momentum ``ema``) of the unimodal
                losses: the weaker modality (larger loss) gets the larger beta. ``beta_schedule``
                'fixed' uses beta_k = beta_0; ``unique_estimator`` 'none' drops L_unique (= DGL).
- ``ogm_ge``    On-the-fly gradient modulation with generalisation enhancement (Peng et al.,
                CVPR 2022), as the official code computes it (GeWu-Lab/OGM-GE_CVPR2022,
                main.py at commit 0f64793f96e5afa0dc1bb1dcf30b10f97392d9a9): joint training;
                per batch, s_k = sum over the batch of softmax(W_k z_k + b/K)[y] (the head's
                block k and half its bias for K = 2); the dominant modality d (larger s; the
                first on a tie, as the official ``ratio_v > 1`` test gives) has the ratio
                r = s_d / s_other and kappa_d = 1 - tanh(alpha relu(r)), every other encoder
                kappa = 1. Inside the modulation window (epochs ``starts`` to ``ends``, both
                included, counted from 0 as the official code counts them) each encoder's
                weight gradient becomes kappa_k g + N(0, (std(g) + 1e-8)^2) (GE; std(g) of the
                unscaled gradient, over the whole weight tensor of one model; biases are left
                alone, as the official code modulates only its 4-D convolution weights).
                K > 2 is this project's generalisation (the official code has two
                modalities): r = s_d / max_{j != d} s_j.
- ``ume``       Uni-modal ensemble: K unimodal models (encoder k + its own linear head
                (A_k, c_k)) trained on sum_k L(A_k z_k + c_k); prediction: the mean of the K
                unimodal logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dgl.train.losses import LossFn, ce_rows
from dgl.train.models import StackedLateFusion, stacked_linear
from synth.registry import Registry


class Method:
    """One training method. Subclasses set ``name`` and override what they change."""

    name = "method"
    #: Name of the random stream of the method's own noise, if it draws any (its ``seed``
    #: option is then derived from the stack's seeds; see dgl.train.stack.StackPlan).
    noise_stream: str | None = None
    #: Whether the update can be captured once and replayed as a CUDA graph: tensor
    #: operations only, its state updated in place (no host-side branching or random draws).
    graph_safe = True
    #: Options that may take one value per model (a sequence, in stack order), so that stacks
    #: of this method that differ only in them can train as one (dgl.train.stack.train_plans).
    per_model_options: tuple[str, ...] = ()

    def __init__(self, **options: Any) -> None:
        if options:
            raise ValueError(f"method {self.name!r} takes no options, got {sorted(options)}")

    def setup(self, model: StackedLateFusion) -> nn.Module | None:
        """Extra trainable parameters (e.g. auxiliary heads), or None."""
        return None

    def check(self, model: StackedLateFusion) -> None:
        """Refuse model layouts the method is not defined for."""

    def loss(self, model: StackedLateFusion, extra: nn.Module | None, x: Tensor, y: Tensor,
             task_loss: LossFn) -> Tensor:
        """The scalar whose gradient is the method's update (sum over the E models)."""
        return task_loss(model(x), y).sum()

    def start_epoch(self, epoch: int) -> None:
        """Hook before every training epoch (``epoch`` counted from 1)."""

    def after_backward(self, model: StackedLateFusion, extra: nn.Module | None, x: Tensor,
                       y: Tensor) -> None:
        """Hook between backward and the optimiser step (gradient modulation)."""

    def logits(self, model: StackedLateFusion, extra: nn.Module | None, x: Tensor) -> Tensor:
        """Predictions used for validation and test."""
        return model(x)

    def keep_models(self, keep: Tensor) -> None:
        """The stack dropped every model not in ``keep``: index any per-model state alike."""


METHODS: Registry[type[Method]] = Registry("method")


def per_model(value: float | Sequence[float]) -> float | Tensor:
    """An option of :attr:`Method.per_model_options`: a number stays a float (the arithmetic
    of a stack with one value is unchanged); a sequence becomes a float32 tensor [E]."""
    if isinstance(value, (int, float)):
        return float(value)
    return torch.tensor([float(v) for v in value], dtype=torch.float32)


def on_device(value: float | Tensor, like: Tensor) -> float | Tensor:
    """A per-model option where ``like`` lives (a float as it is)."""
    return value if isinstance(value, float) else value.to(like.device)


def keep_option(value: float | Tensor, keep: Tensor) -> float | Tensor:
    """A per-model option after the stack kept the models ``keep``."""
    return value if isinstance(value, float) else value.to(keep.device).index_select(0, keep)


def at_least(value: float | Tensor, low: float) -> bool:
    """Whether an option (every model's value) is >= ``low``."""
    return bool((torch.as_tensor(value) >= low).all())


def make_method(name: str, **options: Any) -> Method:
    """The method registered as ``name`` with its options (unknown names list the known)."""
    return METHODS.get(name)(**options)


class AuxHeads(nn.Module):
    """One stacked linear head per modality: A_k [E, o, h], c_k [E, 1, o], seeded like the model."""

    def __init__(self, model: StackedLateFusion, seed_offset: int) -> None:
        super().__init__()
        e, h, o = model.n_models, model.config.width, model.config.out_dim
        gen = torch.Generator().manual_seed(int(seed_offset))
        bound = 1.0 / math.sqrt(h)
        dev = model.head_weight.device
        self.weight = nn.ParameterList([
            nn.Parameter(((torch.rand(e, h, o, generator=gen) * 2 - 1) * bound).transpose(1, 2)
                         .contiguous().to(dev))
            for _ in model.config.modality_dims])
        self.bias = nn.ParameterList([
            nn.Parameter(((torch.rand(e, 1, o, generator=gen) * 2 - 1) * bound).to(dev))
            for _ in model.config.modality_dims])

    def forward(self, k: int, z_k: Tensor) -> Tensor:
        return stacked_linear(z_k, self.weight[k], self.bias[k])


@METHODS.register("joint")
class Joint(Method):
    name = "joint"


@METHODS.register("unimodal")
class Unimodal(Method):
    name = "unimodal"

    def check(self, model: StackedLateFusion) -> None:
        if not bool((model.masks.sum(dim=1) == 1).all()):
            raise ValueError("method 'unimodal' needs every model's subset to hold one modality")


@METHODS.register("dgl")
class DGL(Method):
    name = "dgl"

    per_model_options = ("alpha",)

    def __init__(self, alpha: float | Sequence[float] = 4.0) -> None:
        self.alpha = per_model(alpha)
        if not at_least(self.alpha, 0.0):
            raise ValueError(f"dgl: alpha must be >= 0, got {alpha}")

    def keep_models(self, keep: Tensor) -> None:
        self.alpha = keep_option(self.alpha, keep)

    def weighted_unimodal(self, uni: Tensor) -> Tensor:
        """alpha sum_k,e L_uni [K, E] (alpha_e per model when it has one per model)."""
        if isinstance(self.alpha, float):
            return self.alpha * uni.sum()
        self.alpha = on_device(self.alpha, uni)
        return (uni * self.alpha).sum()

    def unimodal_losses(self, model: StackedLateFusion, feats: list[Tensor], y: Tensor,
                        task_loss: LossFn) -> Tensor:
        """L(h_sg(fuse(0, .., z_k, .., 0))) for every k: [K, E] (zero where the model lacks k)."""
        b = model.head_bias.detach()
        out = []
        for k, u in enumerate(model.contributions(feats, model.head_weight.detach())):
            logits = b + u
            out.append(task_loss(logits, y) * model.masks[:, k].to(logits.dtype))
        return torch.stack(out)

    def multimodal_loss(self, model: StackedLateFusion, feats: list[Tensor], y: Tensor,
                        task_loss: LossFn) -> Tensor:
        return task_loss(model.logits(model.contributions([z.detach() for z in feats])), y)

    def loss(self, model, extra, x, y, task_loss):
        feats = model.encode(x)
        uni = self.unimodal_losses(model, feats, y, task_loss)
        return self.multimodal_loss(model, feats, y, task_loss).sum() + self.weighted_unimodal(uni)


@METHODS.register("dgl_pid")
class DGLPID(DGL):
    name = "dgl_pid"

    per_model_options = ("alpha", "beta0")

    def __init__(self, alpha: float | Sequence[float] = 4.0,
                 beta0: float | Sequence[float] = 0.5, beta_schedule: str = "adaptive",
                 beta_clip: tuple[float, float] = (0.5, 2.0), ema: float = 0.9,
                 unique_estimator: str = "conditional_ce") -> None:
        super().__init__(alpha)
        if beta_schedule not in ("adaptive", "fixed"):
            raise ValueError(f"dgl_pid: beta_schedule must be 'adaptive' or 'fixed', got {beta_schedule!r}")
        if unique_estimator not in ("conditional_ce", "none"):
            raise ValueError("dgl_pid: unique_estimator must be 'conditional_ce' or 'none', "
                             f"got {unique_estimator!r}")
        if not (isinstance(beta_clip, (list, tuple)) and len(beta_clip) == 2):
            raise ValueError(f"dgl_pid: beta_clip must be two numbers [lo, hi], got {beta_clip!r}")
        self.beta0 = per_model(beta0)
        if not at_least(self.beta0, 0.0) or not 0 <= ema < 1 \
                or beta_clip[0] > beta_clip[1]:
            raise ValueError("dgl_pid: need beta0 >= 0, 0 <= ema < 1, beta_clip lo <= hi")
        self.schedule, self.clip = beta_schedule, tuple(beta_clip)
        self.ema, self.estimator = float(ema), unique_estimator
        self.loss_ema: Tensor | None = None  # [K, E]
        self.last_beta: Tensor | None = None

    def setup(self, model):
        return AuxHeads(model, seed_offset=7919) if self.estimator != "none" else None

    def keep_models(self, keep: Tensor) -> None:
        super().keep_models(keep)
        self.beta0 = keep_option(self.beta0, keep)
        if self.loss_ema is not None:
            self.loss_ema = self.loss_ema.index_select(1, keep)

    def betas(self, uni: Tensor, masks: Tensor) -> Tensor:
        """beta [K, E] from the unimodal losses of this step (updates the moving average)."""
        self.beta0 = on_device(self.beta0, uni)
        if self.schedule == "fixed":
            return torch.zeros_like(uni) + self.beta0
        cur = uni.detach()
        if self.loss_ema is None:
            self.loss_ema = cur.clone()
        else:  # in place: a captured step (CUDA graph) reads and writes the same buffer
            self.loss_ema.copy_(self.ema * self.loss_ema + (1 - self.ema) * cur)
        m = masks.T.to(cur.dtype)  # [K, E]
        mean = (self.loss_ema * m).sum(0) / m.sum(0).clamp_min(1)
        ratio = self.loss_ema / mean.clamp_min(1e-12)
        return self.beta0 * ratio.clamp(*self.clip) * m

    def unique_losses(self, model, extra: AuxHeads, feats: list[Tensor], y: Tensor,
                      task_loss: LossFn) -> Tensor:
        """L_unique_k = CE(A_k z_k + c_k + sg(h(fuse(z with z_k zeroed))), y): [K, E]."""
        with torch.no_grad():
            u = model.contributions(feats)
        out = []
        for k in range(len(feats)):
            others = model.logits([u_j for j, u_j in enumerate(u) if j != k],
                                  model.head_bias.detach())
            logits = extra(k, feats[k]) + others
            out.append(task_loss(logits, y) * model.masks[:, k].to(logits.dtype))
        return torch.stack(out)

    def loss(self, model, extra, x, y, task_loss):
        feats = model.encode(x)
        uni = self.unimodal_losses(model, feats, y, task_loss)
        total = self.multimodal_loss(model, feats, y, task_loss).sum() + self.weighted_unimodal(uni)
        if self.estimator == "none":
            return total
        beta = self.betas(uni, model.masks)
        self.last_beta = beta.detach()
        return total + (beta * self.unique_losses(model, extra, feats, y, task_loss)).sum()


@METHODS.register("ogm_ge")
class OGMGE(Method):
    name = "ogm_ge"
    noise_stream = "ogm_noise"
    graph_safe = False  # its modulation window is a host-side branch; its noise a host generator

    per_model_options = ("alpha",)

    def __init__(self, alpha: float | Sequence[float] = 0.5, noise: bool = True,
                 starts: int = 0, ends: int = 50, seed: int = 0) -> None:
        self.alpha = per_model(alpha)
        if not at_least(self.alpha, 0.0) or not 0 <= starts <= ends:
            raise ValueError(f"ogm_ge: need alpha >= 0 and 0 <= starts <= ends, got alpha "
                             f"{alpha}, starts {starts}, ends {ends}")
        self.noise = bool(noise)
        self.starts, self.ends = int(starts), int(ends)
        self.gen: torch.Generator | None = None
        self.seed = int(seed)
        self.epoch = 0  # counted from 0, as the official code counts it
        self.last_coeff: Tensor | None = None
        self.batch_contributions: list[Tensor] | None = None

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch - 1

    def loss(self, model, extra, x, y, task_loss):
        """The joint loss, keeping u_k = W_k z_k of this batch for :meth:`scores` (the scores
        are taken before the optimiser step, on the same parameters: one forward pass)."""
        u = model.contributions(model.encode(x))
        self.batch_contributions = [c.detach() for c in u]
        return task_loss(model.logits(u), y).sum()

    @torch.no_grad()
    def scores(self, model: StackedLateFusion, x: Tensor, y: Tensor,
               contributions: list[Tensor] | None = None) -> Tensor:
        """s [K, E]: sum over the batch of softmax(W_k z_k + b / K)[y] per modality
        (``contributions``: the u_k = W_k z_k of x, when the caller has them)."""
        u_all = contributions if contributions is not None else \
            model.contributions(model.encode(x))
        out = []
        for u in u_all:  # softmax(.)[y] = exp(-cross-entropy)
            ce = ce_rows(u + model.head_bias / len(u_all), y)
            out.append(torch.exp(-ce).sum(dim=1))
        return torch.stack(out)

    def coefficients(self, model: StackedLateFusion, x: Tensor, y: Tensor,
                     contributions: list[Tensor] | None = None) -> Tensor:
        """kappa [K, E] of :func:`ogm_coefficients` on this batch's scores."""
        self.alpha = on_device(self.alpha, x)
        return ogm_coefficients(self.scores(model, x, y, contributions), model.masks.T,
                                self.alpha)

    def keep_models(self, keep: Tensor) -> None:
        self.alpha = keep_option(self.alpha, keep)

    def after_backward(self, model, extra, x, y):
        if not self.starts <= self.epoch <= self.ends:
            return  # outside the window: no modulation, so no scores (an extra forward pass)
        coeff = self.coefficients(model, x, y, self.batch_contributions)
        self.last_coeff = coeff
        if self.gen is None:
            self.gen = torch.Generator(device=x.device).manual_seed(self.seed)
        for k, p in enumerate(model.enc_weight):
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            g = p.grad * coeff[k].view(shape)
            if self.noise:
                sd = p.grad.flatten(1).std(dim=1).view(shape) + 1e-8
                g = g + torch.randn(p.shape, generator=self.gen, device=p.device) * sd
            p.grad.copy_(g * model.masks[:, k].to(g.dtype).view(shape))


def ogm_coefficients(scores: Tensor, masks: Tensor, alpha: float | Tensor) -> Tensor:
    """OGM-GE's kappa [K, E] from the scores s [K, E] of the modalities each model sees
    (``masks`` [K, E]; ``alpha`` one number or one per model [E]): the dominant modality
    d = argmax_k s_k (the first on a tie) gets
    1 - tanh(alpha relu(s_d / max_{j != d} s_j)), every other modality 1 (a model on one
    modality: all 1). For K = 2 this is the official ratio s_d / s_other."""
    s = scores.masked_fill(~masks, float("-inf"))
    coeff = torch.ones_like(scores)
    if s.shape[0] < 2:
        return coeff
    dominant = s.argmax(dim=0)  # the first maximum on a tie
    others = s.scatter(0, dominant[None], float("-inf"))
    ratio = s.gather(0, dominant[None])[0] / others.max(dim=0).values
    kappa = 1 - torch.tanh(alpha * torch.relu(ratio))
    several = masks.sum(dim=0) >= 2
    cols = several.nonzero().squeeze(1)
    coeff[dominant[cols], cols] = kappa[cols].to(coeff.dtype)
    return coeff


@METHODS.register("ume")
class UME(Method):
    name = "ume"

    def setup(self, model):
        return AuxHeads(model, seed_offset=104729)

    def _unimodal_logits(self, model, extra, x) -> list[Tensor]:
        return [extra(k, z) for k, z in enumerate(model.encode(x))]

    def loss(self, model, extra, x, y, task_loss):
        return sum((task_loss(l, y) * model.masks[:, k].to(l.dtype)).sum()
                   for k, l in enumerate(self._unimodal_logits(model, extra, x)))

    def logits(self, model, extra, x):
        logits = self._unimodal_logits(model, extra, x)
        m = model.masks.to(logits[0].dtype)
        return sum(l * m[:, k, None, None] for k, l in enumerate(logits)) / m.sum(1)[:, None, None]
