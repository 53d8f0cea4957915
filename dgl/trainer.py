"""One batched trainer: E independent models, one optimiser step for all of them.

The data of the whole stack lives on the device as tensors ``x [G, n, D]`` and ``y`` (G
datasets, e.g. one per seed; y ``[G, n, o]`` floats for regression, ``[G, n]`` class indices
for classification). Model e trains on rows ``train_idx[e]`` of dataset ``group[e]``, is
early-stopped on rows ``val_idx[e]`` and never sees anything else (the test rows are not
passed in). Minibatches are drawn by index from those tensors: no DataLoader, no host-device
copies per step.

Task loss of model e on a minibatch: the mean squared error on the standardised target
(y - mu_e) / s_e (mu_e, s_e from its own training rows) for regression, the mean cross-entropy
for classification. The training method (:mod:`dgl.methods`, default ``joint``) turns the
per-model losses into one scalar whose gradient is every model's own update (a sum over e);
Adam and SGD act element-wise, so the models stay independent. Each model has its own
generator for the minibatch order.

Early stopping: after every epoch the validation loss of every model (task loss of the
method's predictions, standardised units for regression) is computed; an epoch improves on the
best one when its loss is lower by more than ``min_delta``; model e keeps the parameters of its
best validation epoch and is done once ``patience`` epochs pass without improvement; training
ends when all models are done or at ``max_epochs`` (patience >= max_epochs: a fixed budget with
the best validation checkpoint). A model whose training loss or parameters become NaN/inf, or
whose validation loss does, is stopped at once and marked ``diverged`` (its checkpoint is
kept only so the stack stays whole; evaluation reports it as diverged, never its numbers). A
done model leaves the stack at once (its parameters, optimiser state and data indices are
dropped), so a stack costs the sum of its models' epochs, not E times the longest. For
regression the target scaling is folded back into the head, so predictions are in the
target's units.

Gradient instrumentation (``grad_probe_every`` > 0): every that many steps, for every model
and encoder k, the norms of the gradients with respect to encoder k's parameters of the
multimodal loss L(h(fuse(z))) and of the unimodal loss L(h(fuse(0, .., z_k, .., 0))) (shared
head), whatever the method uses for its update.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dgl.methods import Method, make_method
from dgl.models import StackedLateFusion, replace_parameters_

log = logging.getLogger(__name__)

TASKS = ("regression", "classification")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation budget shared by every model of a stack."""

    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    min_delta: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    grad_probe_every: int = 0
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {list(OPTIMIZERS)}")


@dataclass
class StackData:
    """Device-resident data of a stack; see the module docstring for the shapes."""

    x: Tensor
    y: Tensor
    group: Tensor
    train_idx: Tensor
    val_idx: Tensor

    def rows(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Rows ``idx [E, B]`` of each model's dataset: x [E, B, D] and y [E, B(, o)]."""
        g = self.group[:, None]
        return self.x[g, idx], self.y[g, idx]


@dataclass
class TrainResult:
    """Per-model outcome of :func:`train_stack`."""

    diverged: Tensor  # [E] bool: the loss became NaN/inf; its numbers must not be used
    best_epoch: Tensor
    best_val_loss: Tensor
    epochs_run: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    grad_steps: list[int] = field(default_factory=list)
    grad_multi: Tensor | None = None  # [n_probes, K, E]
    grad_uni: Tensor | None = None  # [n_probes, K, E]
    extra: torch.nn.Module | None = None

    @property
    def best_val_mse(self) -> Tensor:  # regression name of the same number
        return self.best_val_loss


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (a GPU when one is present, else the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; known devices: ['auto', 'cpu', 'cuda']")
    return torch.device(name)


def mse_per_model(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of each model: [E, B, o] x [E, B, o] -> [E]."""
    return ((pred - target) ** 2).mean(dim=(1, 2))


def ce_per_model(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy of each model: logits [E, B, C], class indices [E, B] -> [E]."""
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
    return ce.view(target.shape).mean(dim=1)


def encoder_gradient_norms(model: StackedLateFusion, x: Tensor, y: Tensor, task_loss
                           ) -> tuple[Tensor, Tensor]:
    """||d L_multi / d theta_k|| and ||d L_uni,k / d theta_k|| per model: two [K, E] tensors
    (theta_k = encoder k's weight and bias; the shared head is used for both losses)."""
    feats = model.encode(x)
    u = model.contributions(feats)
    multi = task_loss(model.logits(u), y).sum()
    multi_norms, uni_norms = [], []
    for k in range(len(feats)):
        params = [model.enc_weight[k], model.enc_bias[k]]
        g_multi = torch.autograd.grad(multi, params, retain_graph=True, allow_unused=True)
        uni = task_loss(model.logits([u[k]]), y).sum()
        g_uni = torch.autograd.grad(uni, params, retain_graph=True, allow_unused=True)
        for grads, out in ((g_multi, multi_norms), (g_uni, uni_norms)):
            sq = sum((g.flatten(1) ** 2).sum(1) for g in grads if g is not None)
            out.append(torch.sqrt(sq) * model.masks[:, k].to(x.dtype))
    return torch.stack(multi_norms).detach(), torch.stack(uni_norms).detach()


def train_stack(
    model: StackedLateFusion,
    data: StackData,
    cfg: TrainConfig,
    seeds: list[int],
    task: str = "regression",
    method: Method | None = None,
) -> TrainResult:
    """Train every model of ``model`` with ``method``; see the module docstring."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {list(TASKS)}")
    method = method if method is not None else make_method("joint")
    method.check(model)
    device = data.x.device
    n_models, n_train = data.train_idx.shape
    active = torch.arange(n_models, device=device)  # stack position -> model index
    if task == "regression":
        y_fit = data.rows(data.train_idx)[1]
        mu, sd = y_fit.mean(dim=1, keepdim=True), y_fit.std(dim=1, keepdim=True).clamp_min(1e-12)
        task_loss = mse_per_model

        def target(y: Tensor) -> Tensor:
            return (y - mu[active]) / sd[active]
    else:
        task_loss = ce_per_model

        def target(y: Tensor) -> Tensor:
            return y

    extra = method.setup(model)

    def parameters() -> list[torch.nn.Parameter]:
        return list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])

    def optimiser(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)

    opt = optimiser(parameters())
    modules = {"model": model, **({"extra": extra} if extra is not None else {})}

    @torch.no_grad()
    def validate() -> tuple[Tensor, Tensor | None]:
        total = torch.zeros(len(active), device=device)
        correct = torch.zeros(len(active), device=device)
        n_val = data.val_idx.shape[1]
        for start in range(0, n_val, 4096):
            x, y = data.rows(data.val_idx[:, start : start + 4096])
            logits = method.logits(model, extra, x)
            total += task_loss(logits, target(y)) * x.shape[1]
            if task == "classification":
                correct += (logits.argmax(-1) == y).sum(dim=1)
        return total / n_val, (correct / n_val if task == "classification" else None)

    def snapshot() -> dict[str, dict[str, Tensor]]:
        return {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
                for name, m in modules.items()}

    def finite_models() -> Tensor:
        """[A] whether every parameter of each model in the stack is finite."""
        with torch.no_grad():
            return torch.stack([p.flatten(1).isfinite().all(1) for p in parameters()]).all(0)

    def drop_done(keep: Tensor) -> None:
        """Shrink the stack to positions ``keep``: parameters, optimiser state, data, seeds."""
        nonlocal data, gens, opt, active
        old = parameters()
        model.keep_models_(keep)
        if extra is not None:
            replace_parameters_(extra, {n: p.detach().index_select(0, keep)
                                        for n, p in extra.named_parameters()})
        new_opt = optimiser(parameters())
        for p_old, p_new in zip(old, parameters()):  # Adam moments, momentum: per model
            new_opt.state[p_new] = {
                key: (value.index_select(0, keep) if torch.is_tensor(value) and value.dim()
                      else value)
                for key, value in opt.state.get(p_old, {}).items()}
        opt = new_opt
        method.keep_models(keep)
        data = StackData(data.x, data.y, data.group[keep], data.train_idx[keep],
                         data.val_idx[keep])
        gens = [gens[i] for i in keep.tolist()]
        active = active[keep]

    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    best = snapshot()
    best_val, _ = validate()
    best_epoch = torch.zeros(n_models, dtype=torch.long, device=device)
    since_best = torch.zeros(n_models, dtype=torch.long, device=device)
    diverged = torch.zeros(n_models, dtype=torch.bool, device=device)
    history: list[dict[str, float]] = []
    grad_steps, grad_multi, grad_uni = [], [], []
    t0 = time.perf_counter()
    step = 0
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        order = torch.stack([torch.randperm(n_train, generator=g) for g in gens]).to(device)
        order = data.train_idx.gather(1, order)
        for start in range(0, n_train, cfg.batch_size):
            x, y = data.rows(order[:, start : start + cfg.batch_size])
            y = target(y)
            if cfg.grad_probe_every and step % cfg.grad_probe_every == 0:
                g_m, g_u = encoder_gradient_norms(model, x, y, task_loss)
                grad_steps.append(step)
                for out, g in ((grad_multi, g_m), (grad_uni, g_u)):  # NaN: model has left
                    full = torch.full((g.shape[0], n_models), float("nan"))
                    out.append(full.index_copy_(1, active.cpu(), g.cpu()))
            loss = method.loss(model, extra, x, y, task_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            method.after_backward(model, extra, x, y)
            opt.step()
            step += 1
            if not bool(torch.isfinite(loss)):  # some model's loss is NaN or inf
                ok = finite_models()
                if not bool(ok.all()):
                    log.warning("epoch %d step %d: %d model(s) diverged (non-finite loss and "
                                "parameters); they leave the stack", epoch, step,
                                int((~ok).sum()))
                    diverged[active[~ok]] = True
                    keep = ok.nonzero().squeeze(1)
                    order = order[keep]
                    drop_done(keep)
                    if not len(active):
                        break
        if not len(active):
            break
        val, val_acc = validate()
        blown = ~torch.isfinite(val)
        if bool(blown.any()):
            log.warning("epoch %d: %d model(s) diverged (non-finite validation loss)", epoch,
                        int(blown.sum()))
            diverged[active[blown]] = True
        improved = val < best_val[active] - cfg.min_delta
        idx = active[improved]
        for name, m in modules.items():
            for key, value in m.state_dict().items():
                if key != "masks":
                    best[name][key].index_copy_(0, idx, value.detach()[improved])
        best_val[idx] = val[improved]
        best_epoch[idx] = epoch
        since_best[active] = torch.where(improved, 0, since_best[active] + 1)
        done = (since_best >= cfg.patience) | diverged
        val_mean = float(val[~blown].mean()) if bool((~blown).any()) else float("nan")
        row = {"epoch": epoch, "val_loss_mean": val_mean, "done": int(done.sum()),
               "models_trained": len(active)}
        if val_acc is not None:
            row["val_acc_mean"] = float(val_acc.mean())
        history.append(row)
        if epoch % cfg.log_every == 0 or bool(done.all()):
            log.info("epoch %d: mean val loss %.4f (%d models trained), %d/%d models stopped, "
                     "%.1fs", epoch, val_mean, len(active), int(done.sum()), n_models,
                     time.perf_counter() - t0)
        if bool(done.all()):
            break
        keep = (~done[active]).nonzero().squeeze(1)
        if len(keep) < len(active):
            drop_done(keep)
    model.load_stack_(best["model"])
    if extra is not None:
        replace_parameters_(extra, {n: best["extra"][n].clone()
                                    for n, _ in extra.named_parameters()})
    if task == "regression":
        with torch.no_grad():  # fold the target scaling back into the head
            model.head_weight.mul_(sd.transpose(1, 2))
            model.head_bias.mul_(sd).add_(mu)
    return TrainResult(
        diverged=diverged.cpu(),
        best_epoch=best_epoch.cpu(),
        best_val_loss=best_val.cpu(),
        epochs_run=epoch,
        seconds=time.perf_counter() - t0,
        history=history,
        grad_steps=grad_steps,
        grad_multi=torch.stack(grad_multi) if grad_multi else None,
        grad_uni=torch.stack(grad_uni) if grad_uni else None,
        extra=extra,
    )
