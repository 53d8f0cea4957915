"""A stack of E independent late-fusion models, evaluated with batched matmuls.

The architecture of every model of a stack is one :class:`ModelConfig`; encoder activations
and fusions are registered by name (:data:`ENCODERS`, :data:`FUSIONS`).

Model e of the stack, on modalities x_1..x_K (x_k in R^{d_k}):

    encoder  g_k(x_k) = phi(x_k W_k + b_k),  W_k in R^{d_k x h},  phi = identity ('linear')
                                                                  or ReLU ('relu');
    masking  z_k = m_{e,k} g_k(x_k), m_{e,k} = 1 if modality k is in the model's subset S_e,
             else 0 (a model on S sees exactly the modalities of S: the zeroed blocks carry
             no signal and receive no gradient);
    fusion   z = concat(z_1, ..., z_K) in R^{K h} ('concat', default) or z = sum_k z_k in R^h
             ('sum');
    head     f(x) = z V^T + c,  V in R^{o x K h} (concat) or R^{o x h} (sum), stored like
             ``nn.Linear.weight``.

Every parameter carries a leading model axis of size E, so one ``torch.baddbmm`` per modality
evaluates all E models at once. The head, whose output width o is tiny (1 for regression), goes
through :func:`stacked_linear`, whose backward uses the products a BLAS runs fast at that shape
(autograd's default, z^T g with o columns, runs several times slower on CPU); with one output
(regression), each modality's encoder and head block form one :func:`one_output_branch`, whose
backward needs no dL/dz and which runs a block of models at a time in cache. Model e is
initialised from its own seed exactly as a single ``nn.Linear`` stack would be (uniform in
+-1/sqrt(fan_in)), so a stack of one model is the one-model-at-a-time path.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from synth.registry import Registry


@dataclass(frozen=True)
class Encoder:
    """An encoder activation phi, g_k(x_k) = phi(x_k W_k + b_k), and its slope phi'(a) read off
    its output phi(a) [E, B, h] (``slope`` None: phi is the identity, slope 1 everywhere)."""

    activation: Callable[[Tensor], Tensor]
    activation_: Callable[[Tensor], Tensor]  # the same, in place
    slope: Callable[[Tensor], Tensor] | None


#: Encoders by name.
ENCODERS: Registry[Encoder] = Registry("encoder")
ENCODERS.register("linear")(Encoder(lambda a: a, lambda a: a, None))
# relu(a) >= 0, so its slope 1[a > 0] is sign(relu(a))
ENCODERS.register("relu")(Encoder(torch.relu, torch.relu_, torch.sign))

#: Fusions of the per-modality features [z_1, ..., z_K] (each [E, B, h]) by name.
FUSIONS: Registry[Callable[[list[Tensor]], Tensor]] = Registry("fusion")
FUSIONS.register("concat")(lambda feats: torch.cat(feats, dim=-1))
FUSIONS.register("sum")(lambda feats: torch.stack(feats).sum(0))


@dataclass(frozen=True)
class ModelConfig:
    """Architecture shared by every model of a stack: modality dimensions d_k, encoder width
    h, encoder kind (:data:`ENCODERS`), output width o (1 for regression, C classes) and
    fusion (:data:`FUSIONS`)."""

    modality_dims: tuple[int, ...]
    width: int
    encoder: str
    out_dim: int
    fusion: str = "concat"

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality_dims", tuple(int(d) for d in self.modality_dims))
        ENCODERS.get(self.encoder)  # unknown names fail, listing the known ones
        FUSIONS.get(self.fusion)
        if self.width < 1 or self.out_dim < 1 or min(self.modality_dims, default=0) < 1:
            raise ValueError(f"width, out_dim and every modality dimension must be >= 1: {self}")

    @property
    def fused_width(self) -> int:
        """Width of fuse(z): K h for concatenation, h for a sum."""
        return len(self.modality_dims) * self.width if self.fusion == "concat" else self.width


class _StackedLinear(torch.autograd.Function):
    """out = z W^T + c per model, with a backward written for small o (see stacked_linear)."""

    # forward takes ctx (no separate setup_context): apply() then skips binding its arguments
    # through inspect.signature, tens of microseconds per call
    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(z, weight)
        if weight.shape[1] == 1:  # a matrix-vector product: elementwise, then a row sum
            out = (z * weight).sum(-1, keepdim=True)
            return out if bias is None else out + bias
        if bias is None:
            return torch.bmm(z, weight.transpose(1, 2))
        return torch.baddbmm(bias, z, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: Tensor):
        z, weight = ctx.saved_tensors
        grad_z = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:  # dL/dz = g W: an outer product when o = 1
            grad_z = grad * weight if weight.shape[1] == 1 else torch.bmm(grad, weight)
        if ctx.needs_input_grad[1]:  # dL/dW = g^T z: [E, o, B] x [E, B, F]
            grad_w = torch.bmm(grad.transpose(1, 2), z)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=1, keepdim=True)
        return grad_z, grad_w, grad_b


def stacked_linear(z: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """E linear maps at once: z [E, B, F], weight [E, o, F], bias [E, 1, o] or None ->
    z W^T + c, [E, B, o].

    The same numbers as ``torch.baddbmm(bias, z, weight.transpose(1, 2))``; the backward forms
    dL/dW as g^T z ([E, o, B] x [E, B, F]) instead of autograd's z^T g, and dL/dz for o = 1 as
    a broadcast product, both several times faster on CPU for the few outputs heads have.
    """
    return _StackedLinear.apply(z, weight, bias)


class _OneOutputBranch(torch.autograd.Function):
    """u = phi(x W + b) v^T [E, B, 1]: one modality's encoder and its block v [E, 1, h] of a
    head with one output, with a backward that never forms dL/dz, both passes run a block of
    models at a time (see :func:`one_output_branch`). Its matrix-vector products are row
    sums of elementwise products: bmm's, for a batch of one matrix, rounds otherwise than for
    several, and a stack must give each model's numbers alone."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, head: Tensor,
                encoder: Encoder) -> Tensor:
        ctx.slope = encoder.slope
        if encoder.slope is None:  # identity: u = x (W v^T) + b v^T, no [E, B, h] at all
            ctx.save_for_backward(x, weight, bias, head)
            return ((x * (weight * head).sum(2)[:, None, :]).sum(2, keepdim=True)
                    + (bias * head).sum(2, keepdim=True))
        n_models, rows, width = x.shape[0], x.shape[1], weight.shape[2]
        z = x.new_empty(n_models, rows, width)
        u = x.new_empty(n_models, rows, 1)
        for block in _model_blocks(n_models, rows * width, x.device):
            torch.baddbmm(bias[block], x[block], weight[block], out=z[block])
            encoder.activation_(z[block])
            torch.sum(z[block] * head[block], dim=2, keepdim=True, out=u[block])  # z v^T
        ctx.save_for_backward(x, z, weight, head)
        return u

    @staticmethod
    def backward(ctx, grad: Tensor):
        need_x, need_w, need_b, need_v, _ = ctx.needs_input_grad
        if ctx.slope is None:
            return _identity_branch_grads(grad, *ctx.saved_tensors, ctx.needs_input_grad)
        x, z, weight, head = ctx.saved_tensors
        g_t = grad.transpose(1, 2)  # [E, 1, B]
        grads = [torch.empty_like(t) if need else None  # dL/db and dL/dv: both [E, 1, h]
                 for t, need in zip((x, weight, head, head), (need_x, need_w, need_b, need_v))]
        grad_x, grad_w, grad_b, grad_v = grads
        for block in _model_blocks(z.shape[0], z.shape[1] * z.shape[2], z.device):
            slope = ctx.slope(z[block])  # D, while the block is in cache
            if need_v:  # g^T z
                torch.bmm(g_t[block], z[block], out=grad_v[block])
            if need_w:  # ((g . x)^T D) diag(v)
                torch.bmm((x[block] * grad[block]).transpose(1, 2), slope, out=grad_w[block])
                grad_w[block].mul_(head[block])
            if need_b:  # (g^T D) diag(v)
                torch.bmm(g_t[block], slope, out=grad_b[block]).mul_(head[block])
            if need_x:  # ((g v) . D) W^T
                torch.bmm(slope.mul_(grad[block] * head[block]),
                          weight[block].transpose(1, 2), out=grad_x[block])
        return grad_x, grad_w, grad_b, grad_v, None


def _identity_branch_grads(grad: Tensor, x: Tensor, weight: Tensor, bias: Tensor, head: Tensor,
                           needs: tuple[bool, ...]) -> tuple[Tensor | None, ...]:
    """The gradients of u = x (W v^T) + b v^T (identity encoder): dL/dx = g (v W^T),
    dL/dW = (x^T g) v, dL/db = (sum_i g_i) v, dL/dv = (g^T x) W + (sum_i g_i) b."""
    g_sum = grad.sum(1, keepdim=True)  # [E, 1, 1]
    grad_x = grad * torch.bmm(head, weight.transpose(1, 2)) if needs[0] else None
    grad_w = (x * grad).sum(1)[:, :, None] * head if needs[1] else None
    grad_v = (torch.baddbmm(g_sum * bias, torch.bmm(grad.transpose(1, 2), x), weight)
              if needs[3] else None)
    grad_b = g_sum * head if needs[2] else None
    return grad_x, grad_w, grad_b, grad_v, None


def _model_blocks(n_models: int, floats_per_model: int, device: torch.device,
                  floats: int = 1 << 18) -> list[slice]:
    """Consecutive blocks of models whose [B, h] activations hold about ``floats`` floats
    together (1 MiB, at least one model): on a CPU, a block's activations are written, read
    and read again while they are in cache (the Huang-sized step, E = 64 on 2 cores: 145 ->
    110 ms). A GPU takes every model at once (a block more is a kernel launch more)."""
    if device.type != "cpu":
        return [slice(0, n_models)]
    size = max(1, floats // max(floats_per_model, 1))
    return [slice(a, min(a + size, n_models)) for a in range(0, n_models, size)]


def one_output_branch(x: Tensor, weight: Tensor, bias: Tensor, head: Tensor,
                      encoder: Encoder) -> Tensor:
    """u = phi(x W + b) v^T [E, B, 1] for x [E, B, d], W [E, d, h], b [E, 1, h] and a head block
    v [E, 1, h] of one output: one modality's term of a regression model's prediction.

    The same numbers as ``stacked_linear(phi(torch.baddbmm(b, x, W)), v)`` up to rounding, with
    a backward that never forms dL/dz nor dL/da (a = x W + b): with g = dL/du [E, B, 1] and
    D = phi'(a) [E, B, h], dL/da = (g v) . D = diag(g) D diag(v), so

        dL/dW = ((g . x)^T D) diag(v),   dL/db = (g^T D) diag(v),   dL/dv = g^T z,

    one [E, B, h] pass (D, read off z) where autograd's backward takes three (g v, the ReLU mask
    applied to it, the bias's row sum). The identity encoder forms no [E, B, h] tensor at all:
    u = x (W v^T) + b v^T, dL/dW = (x^T g) v, dL/db = (sum_i g_i) v, dL/dv = (g^T x) W + (sum g) b.
    """
    return _OneOutputBranch.apply(x, weight, bias, head, encoder)


def replace_parameters_(module: nn.Module, values: dict[str, Tensor]) -> None:
    """Replace the named parameters of ``module`` by new parameters holding ``values`` (the
    shapes may change; autograd caches a parameter's shape, so resizing in place is unsafe)."""
    for name, value in values.items():
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
        old = owner[int(leaf)] if leaf.isdigit() else getattr(owner, leaf)
        new = nn.Parameter(value.to(old))
        if leaf.isdigit():
            owner[int(leaf)] = new
        else:
            setattr(owner, leaf, new)


class StackedLateFusion(nn.Module):
    """E independent encoder-per-modality + concatenation + linear-head models."""

    def __init__(self, config: ModelConfig, masks: Tensor, seeds: Sequence[int]) -> None:
        """Model e sees the modalities where ``masks[e]`` [K] is true and is initialised from
        ``seeds[e]``."""
        super().__init__()
        self.config = config
        masks = torch.as_tensor(masks, dtype=torch.bool)
        n_models, n_mod = masks.shape
        if n_mod != len(config.modality_dims):
            raise ValueError(f"masks have {n_mod} modalities, modality_dims "
                             f"{len(config.modality_dims)}")
        if len(seeds) != n_models:
            raise ValueError(f"{len(seeds)} seeds for {n_models} models")
        if not bool(masks.any(dim=1).all()):
            raise ValueError("every model needs at least one modality in its subset")
        self.register_buffer("masks", masks)
        self._refresh_users()
        self._initialise(seeds)

    def _initialise(self, seeds: Sequence[int]) -> None:
        """Parameters of model e drawn from its own generator, in nn.Linear's layout and order
        (uniform in +-1/sqrt(fan_in); encoder weights and biases per modality, then the head)."""

        def uniform(gen: torch.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

        cfg = self.config
        dims, width, out_dim = cfg.modality_dims, cfg.width, cfg.out_dim
        enc_w = [[] for _ in dims]
        enc_b = [[] for _ in dims]
        head_w, head_b = [], []
        fused = self.config.fused_width
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed))
            for k, d in enumerate(dims):
                enc_w[k].append(uniform(gen, (d, width), d))
                enc_b[k].append(uniform(gen, (1, width), d))
            head_w.append(uniform(gen, (fused, out_dim), fused).T)
            head_b.append(uniform(gen, (1, out_dim), fused))
        f32 = torch.float32
        self.enc_weight = nn.ParameterList([nn.Parameter(torch.stack(w).to(f32)) for w in enc_w])
        self.enc_bias = nn.ParameterList([nn.Parameter(torch.stack(b).to(f32)) for b in enc_b])
        self.head_weight = nn.Parameter(torch.stack(head_w).to(f32))
        self.head_bias = nn.Parameter(torch.stack(head_b).to(f32))

    def _refresh_users(self) -> None:
        for k in range(self.masks.shape[1]):  # models that see modality k
            self.register_buffer(f"users_{k}", self.masks[:, k].nonzero().squeeze(1),
                                 persistent=False)

    def keep_models_(self, keep: Tensor) -> None:
        """Drop every model whose index is not in ``keep``, in place: every parameter is
        replaced by a new one holding the kept models (in :meth:`parameters` order, so an
        optimiser's state can follow; see :func:`dgl.train.trainer.train_stack`)."""
        replace_parameters_(self, {name: p.detach().index_select(0, keep)
                                   for name, p in self.named_parameters()})
        self.masks = self.masks.index_select(0, keep)
        self._refresh_users()

    def submodel(self, members: Sequence[int]) -> StackedLateFusion:
        """A copy of the stack holding only the models ``members``, in that order (this stack
        unchanged). Only the members' parameters are copied (each parameter's kept rows are
        handed to the deep copy), so taking one model at a time from an E-model stack costs
        E models' copies in all, not E^2."""
        keep = torch.tensor(list(members), device=self.masks.device)
        kept = {id(p): nn.Parameter(p.detach().index_select(0, keep), p.requires_grad)
                for p in self.parameters()}
        sub = copy.deepcopy(self, kept)
        sub.masks = self.masks.index_select(0, keep)
        sub._refresh_users()
        return sub

    def load_stack_(self, state: dict[str, Tensor]) -> None:
        """Load a state dict whose model axis may differ from the current one (the inverse of
        :meth:`keep_models_`)."""
        replace_parameters_(self, {name: state[name].clone()
                                   for name, _ in self.named_parameters()})
        self.masks = state["masks"].clone().to(self.masks.device)
        self._refresh_users()

    @property
    def n_models(self) -> int:
        return int(self.masks.shape[0])

    def split(self, x: Tensor) -> list[Tensor]:
        """[E, B, sum d_k] -> per-modality views [E, B, d_k]."""
        return list(torch.split(x, self.config.modality_dims, dim=-1))

    def encode(self, x: Tensor) -> list[Tensor]:
        """Masked per-modality features z_k, each [E, B, h].

        Encoder k is evaluated only for the models whose subset holds modality k; the other
        models get exact zeros (no arithmetic is spent on modalities a model does not see).
        """
        return [self._masked(k, x_k) for k, x_k in enumerate(self.split(x))]

    def encode_one(self, x: Tensor, k: int) -> Tensor:
        """z_k alone, [E, B, h] (``encode(x)[k]`` without the other encoders)."""
        return self._masked(k, self.split(x)[k])

    def _masked(self, k: int, x_k: Tensor) -> Tensor:
        z, users = self._users_features(k, x_k)
        if users is not None:
            z = z.new_zeros((self.n_models,) + z.shape[1:]).index_copy(0, users, z)
        return z

    def _users_features(self, k: int, x_k: Tensor) -> tuple[Tensor, Tensor | None]:
        """z_k = g_k(x_k) of the models that see modality k: ([E, B, h], None) when every
        model does, else ([U, B, h], users)."""
        users = self._users(k)
        x_k, weight, bias = self._users_rows(users, x_k, self.enc_weight[k], self.enc_bias[k])
        return self._encoder(k, x_k, bias, weight), users

    def _users(self, k: int) -> Tensor | None:
        """The models that see modality k, or None when every model does."""
        users = getattr(self, f"users_{k}")
        return None if users.numel() == self.n_models else users

    @staticmethod
    def _users_rows(users: Tensor | None, *stacked: Tensor) -> tuple[Tensor, ...]:
        """The rows ``users`` (None: all) of every tensor, taken with index_select: advanced
        indexing's backward (index_put_ with accumulation) cost more than the rest of a
        training step, and ``x_k[users]`` took 3x as long (131 against 43 us at
        35 x 512 x 12)."""
        return stacked if users is None else tuple(t.index_select(0, users) for t in stacked)

    def _encoder(self, k: int, x_k: Tensor, bias: Tensor, weight: Tensor) -> Tensor:
        return ENCODERS.get(self.config.encoder).activation(torch.baddbmm(bias, x_k, weight))

    def fuse(self, feats: list[Tensor]) -> Tensor:
        """Fusion of the per-modality features (:data:`FUSIONS`)."""
        return FUSIONS.get(self.config.fusion)(feats)

    @staticmethod
    def only(feats: list[Tensor], k: int) -> list[Tensor]:
        """(0, ..., z_k, ..., 0): the features of modality k alone."""
        return [z if j == k else torch.zeros_like(z) for j, z in enumerate(feats)]

    def contributions(self, feats: list[Tensor], weight: Tensor | None = None) -> list[Tensor]:
        """u_k = z_k V_k^T [E, B, o] per modality, V_k the head's block k (concatenation) or V
        itself (sum); fusion and head being linear, h(fuse(z)) = c + sum_k u_k, and the head on
        (0, .., z_k, .., 0) is c + u_k. No fused [E, B, K h] tensor is built."""
        return [self.contribution(z, k, weight) for k, z in enumerate(feats)]

    def contribution(self, z: Tensor, k: int, weight: Tensor | None = None) -> Tensor:
        """u_k = z_k V_k^T [E, B, o] of modality k's features alone."""
        return stacked_linear(z, self.head_block(k, weight))

    def head_block(self, k: int, weight: Tensor | None = None) -> Tensor:
        """V_k [E, o, h]: the head's weights on modality k's features, its block k of the
        concatenation or, for a sum fusion, V itself (``weight``: in place of the head's)."""
        weight = self.head_weight if weight is None else weight
        h = self.config.width
        return weight[:, :, k * h : (k + 1) * h] if self.config.fusion == "concat" else weight

    def logits(self, contributions: list[Tensor], bias: Tensor | None = None) -> Tensor:
        """c + sum of the given contributions."""
        out = self.head_bias if bias is None else bias
        for u in contributions:
            out = out + u
        return out

    def head(self, z: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        """Linear head on fused features, [E, B, F] -> [E, B, o]; ``weight`` [E, o, F] and
        ``bias`` [E, 1, o] replace the head's own parameters (e.g. detached copies)."""
        return stacked_linear(z, self.head_weight if weight is None else weight,
                              self.head_bias if bias is None else bias)

    def forward(self, x: Tensor) -> Tensor:
        """h(fuse(z)) = c + sum_k u_k (:meth:`contributions`), with u_k computed only for the
        models that see modality k and added to their rows alone: the same numbers as
        ``logits(contributions(encode(x)))`` (to rounding with one output, whose u_k come
        from :func:`one_output_branch`), without the zero features of the models that lack k
        nor their products with the head."""
        out = self.head_bias.expand(-1, x.shape[1], -1)
        for k, x_k in enumerate(self.split(x)):
            if not getattr(self, f"users_{k}").numel():
                continue
            users = self._users(k)
            u = self._branch(k, x_k, users)
            out = out + u if users is None else out.index_add(0, users, u)
        return out

    def _branch(self, k: int, x_k: Tensor, users: Tensor | None) -> Tensor:
        """u_k = z_k V_k^T of the models ``users`` (None: all), [U, B, o]; with one output by
        :func:`one_output_branch`."""
        x_k, weight, bias, head = self._users_rows(users, x_k, self.enc_weight[k],
                                                   self.enc_bias[k], self.head_block(k))
        if self.config.out_dim == 1:
            return one_output_branch(x_k, weight, bias, head, ENCODERS.get(self.config.encoder))
        return stacked_linear(self._encoder(k, x_k, bias, weight), head)
