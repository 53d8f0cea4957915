"""One batched trainer: E independent models, one optimiser step for all of them.

The data of the whole stack lives on the device as tensors ``x [G, n, D]``, ``y [G, n, o]``
(G datasets, e.g. one per seed). Model e trains on rows ``train_idx[e]`` of dataset
``group[e]``, is early-stopped on rows ``val_idx[e]`` and never sees anything else (the test
rows are not passed in). Minibatches are drawn by index from those tensors: no DataLoader, no
host-device copies per step.

Objective of model e: the mean squared error of its minibatch on the standardised target
(y - mu_e) / s_e, mu_e and s_e from its own training rows; the total loss is the sum over e, so
each model's gradient is its own and Adam (element-wise) keeps the models independent. Each
model has its own generator for the minibatch order. Early stopping: after every epoch the
validation MSE of every model is computed; an epoch improves on the best one when its MSE
(on the standardised target, i.e. in units of Var(y)) is lower by more than ``min_delta``;
model e keeps the parameters of its best validation epoch and is done once ``patience`` epochs
pass without improvement; training ends
when all models are done or at ``max_epochs``. The returned parameters are the best ones, with
the target scaling folded back into the head so predictions are in the target's units.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dgl.models import StackedLateFusion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation budget shared by every model of a stack."""

    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    min_delta: float = 0.0
    weight_decay: float = 0.0
    log_every: int = 10


@dataclass
class StackData:
    """Device-resident data of a stack; see the module docstring for the shapes."""

    x: Tensor
    y: Tensor
    group: Tensor
    train_idx: Tensor
    val_idx: Tensor

    def rows(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Rows ``idx [E, B]`` of each model's dataset: x [E, B, D], y [E, B, o]."""
        g = self.group[:, None]
        return self.x[g, idx], self.y[g, idx]


@dataclass
class TrainResult:
    """Per-model outcome of :func:`train_stack`."""

    best_epoch: Tensor
    best_val_mse: Tensor
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (a GPU when one is present, else the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; known devices: ['auto', 'cpu', 'cuda']")
    return torch.device(name)


def _target_scaling(data: StackData) -> tuple[Tensor, Tensor]:
    y = data.rows(data.train_idx)[1]
    return y.mean(dim=1, keepdim=True), y.std(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def _val_mse(model: StackedLateFusion, data: StackData, mu: Tensor, sd: Tensor) -> Tensor:
    """Validation MSE of every model, on the standardised target, over all validation rows."""
    total = torch.zeros(model.n_models, device=data.x.device)
    n_val = data.val_idx.shape[1]
    for start in range(0, n_val, 4096):
        x, y = data.rows(data.val_idx[:, start : start + 4096])
        total += ((model(x) - (y - mu) / sd) ** 2).sum(dim=(1, 2))
    return total / (n_val * model.out_dim)


def train_stack(
    model: StackedLateFusion, data: StackData, cfg: TrainConfig, seeds: list[int]
) -> TrainResult:
    """Train every model of ``model`` jointly on its modalities; see the module docstring."""
    device = data.x.device
    n_models, n_train = data.train_idx.shape
    mu, sd = _target_scaling(data)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_val = _val_mse(model, data, mu, sd)
    best_epoch = torch.zeros(n_models, dtype=torch.long, device=device)
    since_best = torch.zeros(n_models, dtype=torch.long, device=device)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        order = torch.stack([torch.randperm(n_train, generator=g) for g in gens]).to(device)
        order = data.train_idx.gather(1, order)
        for start in range(0, n_train, cfg.batch_size):
            x, y = data.rows(order[:, start : start + cfg.batch_size])
            per_model = ((model(x) - (y - mu) / sd) ** 2).mean(dim=(1, 2))
            opt.zero_grad(set_to_none=True)
            per_model.sum().backward()
            opt.step()
        val = _val_mse(model, data, mu, sd)
        improved = val < best_val - cfg.min_delta
        for name, value in model.state_dict().items():
            if name == "masks":
                continue
            shape = (n_models,) + (1,) * (value.dim() - 1)
            best[name] = torch.where(improved.view(shape), value.detach(), best[name])
        best_val = torch.where(improved, val, best_val)
        best_epoch = torch.where(improved, epoch, best_epoch)
        since_best = torch.where(improved, 0, since_best + 1)
        done = since_best >= cfg.patience
        history.append({"epoch": epoch, "val_mse_mean": float(val.mean()), "done": int(done.sum())})
        if epoch % cfg.log_every == 0 or bool(done.all()):
            log.info(
                "epoch %d: mean val MSE %.4f, %d/%d models stopped, %.1fs",
                epoch, float(val.mean()), int(done.sum()), n_models, time.perf_counter() - t0,
            )
        if bool(done.all()):
            break
    model.load_state_dict(best)
    with torch.no_grad():  # fold the target scaling back into the head
        model.head_weight.mul_(sd)
        model.head_bias.mul_(sd).add_(mu)
    return TrainResult(
        best_epoch=best_epoch.cpu(),
        best_val_mse=best_val.cpu(),
        epochs_run=epoch,
        seconds=time.perf_counter() - t0,
        history=history,
    )
