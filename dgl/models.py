"""A stack of E independent late-fusion models, evaluated with batched matmuls.

Model e of the stack, on modalities x_1..x_K (x_k in R^{d_k}):

    encoder  g_k(x_k) = phi(x_k W_k + b_k),  W_k in R^{d_k x h},  phi = identity ('linear')
                                                                  or ReLU ('relu');
    masking  z_k = m_{e,k} g_k(x_k), m_{e,k} = 1 if modality k is in the model's subset S_e,
             else 0 (a model on S sees exactly the modalities of S: the zeroed blocks carry
             no signal and receive no gradient);
    fusion   z = concat(z_1, ..., z_K) in R^{K h} ('concat', default) or z = sum_k z_k in R^h
             ('sum');
    head     f(x) = z V + c,  V in R^{K h x o} (concat) or R^{h x o} (sum).

Every parameter carries a leading model axis of size E, so one ``torch.baddbmm`` per modality
evaluates all E models at once. Model e is initialised from its own seed exactly as a single
``nn.Linear`` stack would be (uniform in +-1/sqrt(fan_in)), so a stack of one model is the
one-model-at-a-time path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

ENCODERS = ("linear", "relu")
FUSIONS = ("concat", "sum")


class StackedLateFusion(nn.Module):
    """E independent encoder-per-modality + concatenation + linear-head models."""

    def __init__(
        self,
        modality_dims: Sequence[int],
        width: int,
        encoder: str,
        out_dim: int,
        masks: Tensor,
        seeds: Sequence[int],
        fusion: str = "concat",
    ) -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; known encoders: {list(ENCODERS)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; known fusions: {list(FUSIONS)}")
        self.fusion = fusion
        masks = torch.as_tensor(masks, dtype=torch.bool)
        n_models, n_mod = masks.shape
        if n_mod != len(modality_dims):
            raise ValueError(f"masks have {n_mod} modalities, modality_dims {len(modality_dims)}")
        if len(seeds) != n_models:
            raise ValueError(f"{len(seeds)} seeds for {n_models} models")
        if not bool(masks.any(dim=1).all()):
            raise ValueError("every model needs at least one modality in its subset")
        self.modality_dims = tuple(int(d) for d in modality_dims)
        self.width = int(width)
        self.encoder = encoder
        self.out_dim = int(out_dim)
        self.register_buffer("masks", masks)
        for k in range(n_mod):  # models that see modality k
            self.register_buffer(f"users_{k}", masks[:, k].nonzero().squeeze(1), persistent=False)

        def uniform(gen: torch.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
            bound = 1.0 / math.sqrt(fan_in)
            return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

        enc_w = [[] for _ in self.modality_dims]
        enc_b = [[] for _ in self.modality_dims]
        head_w, head_b = [], []
        fused = len(self.modality_dims) * self.width if fusion == "concat" else self.width
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed))
            for k, d in enumerate(self.modality_dims):
                enc_w[k].append(uniform(gen, (d, self.width), d))
                enc_b[k].append(uniform(gen, (1, self.width), d))
            head_w.append(uniform(gen, (fused, self.out_dim), fused))
            head_b.append(uniform(gen, (1, self.out_dim), fused))
        f32 = torch.float32
        self.enc_weight = nn.ParameterList([nn.Parameter(torch.stack(w).to(f32)) for w in enc_w])
        self.enc_bias = nn.ParameterList([nn.Parameter(torch.stack(b).to(f32)) for b in enc_b])
        self.head_weight = nn.Parameter(torch.stack(head_w).to(f32))
        self.head_bias = nn.Parameter(torch.stack(head_b).to(f32))

    @property
    def n_models(self) -> int:
        return int(self.masks.shape[0])

    def split(self, x: Tensor) -> list[Tensor]:
        """[E, B, sum d_k] -> per-modality views [E, B, d_k]."""
        return list(torch.split(x, self.modality_dims, dim=-1))

    def encode(self, x: Tensor) -> list[Tensor]:
        """Masked per-modality features z_k, each [E, B, h].

        Encoder k is evaluated only for the models whose subset holds modality k; the other
        models get exact zeros (no arithmetic is spent on modalities a model does not see).
        """
        feats = []
        n_models = self.n_models
        for k, x_k in enumerate(self.split(x)):
            users = getattr(self, f"users_{k}")
            if users.numel() == n_models:
                z = self._encoder(k, x_k, self.enc_bias[k], self.enc_weight[k])
            else:
                z_used = self._encoder(
                    k, x_k[users], self.enc_bias[k][users], self.enc_weight[k][users]
                )
                z = z_used.new_zeros((n_models,) + z_used.shape[1:]).index_copy(0, users, z_used)
            feats.append(z)
        return feats

    def _encoder(self, k: int, x_k: Tensor, bias: Tensor, weight: Tensor) -> Tensor:
        z = torch.baddbmm(bias, x_k, weight)
        return torch.relu(z) if self.encoder == "relu" else z

    def fuse(self, feats: list[Tensor]) -> Tensor:
        """Fusion of the per-modality features: concatenation or sum."""
        return torch.cat(feats, dim=-1) if self.fusion == "concat" else torch.stack(feats).sum(0)

    @staticmethod
    def only(feats: list[Tensor], k: int) -> list[Tensor]:
        """(0, ..., z_k, ..., 0): the features of modality k alone."""
        return [z if j == k else torch.zeros_like(z) for j, z in enumerate(feats)]

    @staticmethod
    def without(feats: list[Tensor], k: int) -> list[Tensor]:
        """(z_1, ..., 0_k, ..., z_K): every modality but k."""
        return [torch.zeros_like(z) if j == k else z for j, z in enumerate(feats)]

    def head(self, z: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        """Linear head on fused features, [E, B, F] -> [E, B, o]; ``weight``/``bias`` replace the
        head's own parameters (e.g. detached copies)."""
        return torch.baddbmm(self.head_bias if bias is None else bias, z,
                             self.head_weight if weight is None else weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.fuse(self.encode(x)))
