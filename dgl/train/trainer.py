"""One batched trainer: E independent models, one optimiser step for all of them.

The data of the whole stack lives on the device as tensors ``x [G, n, D]`` and ``y`` (G
datasets, e.g. one per seed; y ``[G, n, o]`` floats for regression, ``[G, n]`` class indices
for classification). Model e trains on rows ``train_idx[e]`` of dataset ``group[e]``, is
early-stopped on rows ``val_idx[e]`` and never sees anything else (the test rows are not
passed in). Minibatches are drawn by index from those tensors: no DataLoader, no host-device
copies per step.

Task loss of model e on a minibatch: the mean squared error on the standardised target
(y - mu_e) / s_e (mu_e, s_e from its own training rows) for regression, the mean cross-entropy
for classification. The training method (:mod:`dgl.train.methods`, default ``joint``) turns the
per-model losses into one scalar whose gradient is every model's own update (a sum over e);
Adam and SGD act element-wise, so the models stay independent. Each model has its own
generator for the minibatch order.

Budget and early stopping, in optimiser steps (so a model sees as many steps whatever its
sample size): after every epoch that ends at least ``val_every_steps`` steps after the last
validation (and when the budget ends, mid-epoch or not) the validation loss of every model
(task loss of the method's predictions, standardised units for regression) is computed (so a
model of 20 rows, whose epoch is one step, validates every ``val_every_steps`` steps, not
after every step, and one with long epochs after every epoch); it improves on the best one
when it is lower by more than the relative ``min_delta`` (val < best (1 - min_delta)); model
e keeps the parameters of its best validation and is done once ``patience_steps`` steps pass
without improvement; training ends
when all models are done or after ``max_steps`` steps (patience_steps >= max_steps: a fixed
budget with the best validation checkpoint). A model is *converged* only if its patience ran
out before the cap: a model that reaches max_steps less than patience_steps after its best
validation hit the cap (:func:`reached_cap`), and the flag says its numbers come from a
model that had not finished; so is a model that never improved on its initial validation loss
(:func:`never_improved`: it kept its random initialisation). A model whose training loss or
parameters become NaN/inf, or
whose validation loss does or exceeds ``blowup_factor`` times its initial value (a finite
blow-up), is stopped at once and marked ``diverged`` (its checkpoint is
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
import weakref
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dgl.train.cuda_graph import capture, on_side_stream
from dgl.train.heap import reuse_freed_memory
from dgl.train.losses import TASKS
from dgl.train.methods import Method, make_method
from dgl.train.models import StackedLateFusion, replace_parameters_
from dgl.train.optimizers import OPTIMIZERS

log = logging.getLogger(__name__)

#: Devices a config may name; 'auto' is a GPU when torch sees one, else the CPU.
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation budget shared by every model of a stack."""

    lr: float = 1e-3
    batch_size: int = 256
    max_steps: int = 5000
    patience_steps: int = 250
    min_delta: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    grad_probe_every: int = 0
    val_every_steps: int = 1  # validate after the first epoch ending this many steps on
    log_every: float = 0.1  # a progress line each time this share of max_steps is passed
    blowup_factor: float = 1000.0  # val loss > this x its initial value: a finite blow-up

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer)  # unknown names fail, listing the known ones
        if self.val_every_steps < 1:
            raise ValueError(f"val_every_steps must be at least 1, got {self.val_every_steps}")


def never_improved(best_step, steps_run):
    """Whether a model that trained (steps_run > 0) never improved on its initial validation
    loss (its best checkpoint is step 0: it kept its random initialisation). Such a model is
    flagged not converged. Works on numbers, tensors, arrays and polars expressions alike."""
    return (best_step == 0) & (steps_run > 0)


def reached_cap(best_step, steps_run, max_steps: int, patience_steps: int):
    """Whether a model hit the step cap before its patience ran out: the budget ended
    (steps_run >= max_steps) less than ``patience_steps`` after its best validation. Exact: a
    model stopped by patience at step s < max_steps has s - best_step >= patience_steps. Works
    on numbers, tensors, arrays and polars expressions alike (the tables recompute the flag
    from the per-model best_step and steps_run with this same function)."""
    return (steps_run >= max_steps) & ((max_steps - best_step) < patience_steps)


@dataclass
class StackData:
    """Device-resident data of a stack; see the module docstring for the shapes."""

    x: Tensor
    y: Tensor
    group: Tensor
    train_idx: Tensor
    val_idx: Tensor

    def __post_init__(self) -> None:  # rows() reads the datasets through flat views
        self.x, self.y = self.x.contiguous(), self.y.contiguous()

    def rows(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Rows ``idx [E, B]`` of each model's dataset: x [E, B, D] and y [E, B(, o)]
        (x[group[e], idx[e, b]], gathered from the flattened datasets as an embedding lookup:
        2.4x faster on the CPU than two-tensor advanced indexing, measured at E = 25; as fast
        as ``index_select`` on the flattened datasets)."""
        flat = self.group[:, None] * self.x.shape[1] + idx
        x = torch.nn.functional.embedding(flat, self.x.flatten(0, 1))
        y = self.y.flatten(0, 1).index_select(0, flat.flatten())
        return x, y.view(*idx.shape, *self.y.shape[2:])

    def select(self, keep: Tensor) -> StackData:
        """The data of the models at positions ``keep`` (the datasets are shared, not copied)."""
        return StackData(self.x, self.y, self.group[keep], self.train_idx[keep],
                         self.val_idx[keep])


@dataclass
class TrainResult:
    """Per-model outcome of :func:`train_stack`."""

    diverged: Tensor  # [E] bool: the loss became NaN/inf; its numbers must not be used
    converged: Tensor  # [E] bool: its patience ran out before the step cap, having improved
    best_epoch: Tensor
    best_step: Tensor
    best_val_loss: Tensor
    epochs_run: int
    steps_run: int  # = max of stop_step: the stack ran until its last model stopped
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    stop_step: Tensor | None = None  # [E] the step each model left the stack at
    stop_epoch: Tensor | None = None  # [E] and its epoch
    grad_steps: list[int] = field(default_factory=list)
    grad_multi: Tensor | None = None  # [n_probes, K, E]
    grad_uni: Tensor | None = None  # [n_probes, K, E]
    extra: torch.nn.Module | None = None

    @property
    def best_val_mse(self) -> Tensor:  # regression name of the same number
        return self.best_val_loss


def resolve_device(name: str) -> torch.device:
    """'cpu', 'cuda' or 'auto' (a GPU when one is present, else the CPU)."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known devices: {list(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no GPU; use 'cpu' or 'auto'")
    return torch.device(name)


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
    graph: bool | None = None,
) -> TrainResult:
    """Train every model of ``model`` with ``method`` (default ``joint``); ``seeds[e]`` seeds
    model e's minibatch order. See the module docstring. ``graph``: run the step through
    :class:`_GraphStep` (default: on a CUDA device, for methods marked ``graph_safe``); on
    the CPU it runs the same buffered step without capture (how the tests check that path).
    Freed memory is kept for the next step (:func:`dgl.train.heap.reuse_freed_memory`)."""
    reuse_freed_memory()
    method = method if method is not None else make_method("joint")
    if graph is None:
        graph = data.x.device.type == "cuda" and method.graph_safe
    elif graph and not method.graph_safe:
        raise ValueError(f"method {method.name!r} cannot run as a captured step "
                         "(host-side control flow or random draws in its update)")
    run = _StackRun(model, data, cfg, seeds, task, method, graph)
    epoch = 0
    while run.step < cfg.max_steps:
        epoch += 1
        if not run.train_epoch(epoch):
            break
        due = run.step - run.validated_step >= cfg.val_every_steps or run.step >= cfg.max_steps
        if due and run.end_epoch(epoch):
            break
    run.restore_best()
    return run.result(epoch)


class _StackRun:
    """The state of one :func:`train_stack` call, as small named steps. ``active`` maps stack
    positions to model indices: models leave the stack as they finish, so every per-model
    tensor indexed by stack position (parameters, optimiser state, data, generators) shrinks,
    while the per-model records (best epoch, checkpoint, divergence) keep all E models."""

    def __init__(self, model: StackedLateFusion, data: StackData, cfg: TrainConfig,
                 seeds: list[int], task: str, method: Method, graph: bool = False) -> None:
        self.task_loss = TASKS.get(task)
        self.task, self.model, self.data, self.cfg, self.method = task, model, data, cfg, method
        method.check(model)
        self.device = data.x.device
        self.n_models, self.n_train = data.train_idx.shape
        self.active = torch.arange(self.n_models, device=self.device)
        if task == "regression":  # standardise the target on each model's training rows
            y_fit = data.rows(data.train_idx)[1]
            self.mu = y_fit.mean(dim=1, keepdim=True)
            self.sd = y_fit.std(dim=1, keepdim=True).clamp_min(1e-12)
        self.extra = method.setup(model)
        self.opt = OPTIMIZERS.get(cfg.optimizer)(self.parameters(), cfg)
        self.modules = {"model": model, **({"extra": self.extra} if self.extra is not None else {})}
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.best = self.snapshot()
        self.live: list[tuple[str, str, Tensor]] | None = None  # see live_state
        self.val_cache: list[tuple[Tensor, Tensor, Tensor]] | None = None
        self.best_val, _ = self.validate()
        self.initial_val = self.best_val.clone()  # the reference of a finite blow-up
        self.validated_step = 0  # the step of the last validation
        n, dev = self.n_models, self.device
        self.best_epoch = torch.zeros(n, dtype=torch.long, device=dev)
        self.best_step = torch.zeros(n, dtype=torch.long, device=dev)
        self.diverged = torch.zeros(n, dtype=torch.bool, device=dev)
        self.stop_step = torch.zeros(n, dtype=torch.long, device=dev)
        self.stop_epoch = torch.zeros(n, dtype=torch.long, device=dev)
        self.history: list[dict[str, float]] = []
        self.grad_steps: list[int] = []
        self.grad_multi: list[Tensor] = []
        self.grad_uni: list[Tensor] = []
        self.graph = _GraphStep(self, capture=self.device.type == "cuda") if graph else None
        self.t0 = time.perf_counter()
        self.step = 0
        self.logged = 0  # progress lines written, in units of log_every

    def parameters(self) -> list[torch.nn.Parameter]:
        """Every trained parameter: the model's, then the method's extra modules'."""
        extra = list(self.extra.parameters()) if self.extra is not None else []
        return list(self.model.parameters()) + extra

    def target(self, y: Tensor) -> Tensor:
        """The training target of the active models: standardised for regression."""
        if self.task == "regression":
            return (y - self.mu[self.active]) / self.sd[self.active]
        return y

    @torch.no_grad()
    def validate(self) -> tuple[Tensor, Tensor | None]:
        """Validation loss of every active model (and accuracy for classification)."""
        total = torch.zeros(len(self.active), device=self.device)
        correct = torch.zeros(len(self.active), device=self.device)
        n_val = self.data.val_idx.shape[1]
        for x, target, y in self.val_chunks():
            logits = self.method.logits(self.model, self.extra, x)
            total += self.task_loss(logits, target) * x.shape[1]
            if self.task == "classification":
                correct += (logits.argmax(-1) == y).sum(dim=1)
        return total / n_val, (correct / n_val if self.task == "classification" else None)

    def val_chunks(self, chunk: int = 4096):
        """The validation rows (x, target, y), chunk by chunk. A single chunk is kept until
        the stack shrinks: with few rows a model validates after every step or two, and the
        gather would cost as much as the forward pass."""
        if self.val_cache is not None:
            return self.val_cache
        n_val = self.data.val_idx.shape[1]
        chunks = []
        for start in range(0, n_val, chunk):
            x, y = self.data.rows(self.data.val_idx[:, start : start + chunk])
            chunks.append((x, self.target(y), y))
        if n_val <= chunk:
            self.val_cache = chunks
        return chunks

    def live_state(self) -> list[tuple[str, str, Tensor]]:
        """(module, key, tensor) of every checkpointed tensor of the active models (the
        modules' state dicts without the masks), kept until the stack shrinks, which replaces
        the parameters: with few rows a stack checkpoints after every step or two, and
        ``state_dict`` cost more than the copies."""
        if self.live is None:
            self.live = [(name, key, value) for name, m in self.modules.items()
                         for key, value in m.state_dict().items() if key != "masks"]
        return self.live

    def snapshot(self) -> dict[str, dict[str, Tensor]]:
        return {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
                for name, m in self.modules.items()}

    def finite_models(self) -> Tensor:
        """[A] whether every parameter of each model in the stack is finite."""
        with torch.no_grad():
            return torch.stack([p.flatten(1).isfinite().all(1) for p in self.parameters()]).all(0)

    def shrink(self, keep: Tensor) -> None:
        """Shrink the stack to positions ``keep``: parameters, optimiser state (Adam moments,
        momentum: per model), method state, data and generators."""
        self.model.keep_models_(keep)
        if self.extra is not None:
            replace_parameters_(self.extra, {n: p.detach().index_select(0, keep)
                                             for n, p in self.extra.named_parameters()})
        self.opt = self.opt.keep(keep, self.parameters())
        self.method.keep_models(keep)
        self.data = self.data.select(keep)
        self.gens = [self.gens[i] for i in keep.tolist()]
        self.active = self.active[keep]
        self.val_cache = self.live = None

    def train_epoch(self, epoch: int) -> bool:
        """One pass over every active model's training rows in its own order; False when
        every model has diverged and left the stack."""
        self.method.start_epoch(epoch)
        order = torch.stack([torch.randperm(self.n_train, generator=g) for g in self.gens])
        order = self.data.train_idx.gather(1, order.to(self.device))
        for start in range(0, self.n_train, self.cfg.batch_size):
            if self.step >= self.cfg.max_steps:  # the budget ends mid-epoch
                break
            x, y = self.data.rows(order[:, start : start + self.cfg.batch_size])
            if not self.train_step(x, self.target(y)):
                keep = self.drop_diverged(epoch)
                if keep is not None:
                    order = order[keep]
                if not len(self.active):
                    return False
        if self.graph is not None and not self.graph.all_finite():  # checked once an epoch
            self.drop_diverged(epoch)
        return len(self.active) > 0

    def train_step(self, x: Tensor, y: Tensor) -> bool:
        """One optimiser step of every active model (after the gradient probe, when due);
        False when some model's loss is not finite."""
        cfg = self.cfg
        if cfg.grad_probe_every and self.step % cfg.grad_probe_every == 0:
            self.probe_gradients(x, y)
        self.step += 1
        if self.graph is not None:  # no host sync: finiteness is checked after the epoch
            self.graph.step(x, y)
            return True
        self.opt.zero_grad()
        return bool(torch.isfinite(self.update(x, y)))

    def update(self, x: Tensor, y: Tensor) -> Tensor:
        """The method's loss, its backward pass and the optimiser step: the detached loss."""
        loss = self.method.loss(self.model, self.extra, x, y, self.task_loss)
        loss.backward()
        self.method.after_backward(self.model, self.extra, x, y)
        self.opt.step()
        return loss.detach()

    def probe_gradients(self, x: Tensor, y: Tensor) -> None:
        """Record the encoder gradient norms (NaN for models that have left the stack)."""
        g_m, g_u = encoder_gradient_norms(self.model, x, y, self.task_loss)
        self.grad_steps.append(self.step)
        for out, g in ((self.grad_multi, g_m), (self.grad_uni, g_u)):
            full = torch.full((g.shape[0], self.n_models), float("nan"))
            out.append(full.index_copy_(1, self.active.cpu(), g.cpu()))

    def drop_diverged(self, epoch: int) -> Tensor | None:
        """After a non-finite loss: mark the models whose parameters are no longer finite as
        diverged and drop them; the kept positions, or None when every model is finite."""
        ok = self.finite_models()
        if bool(ok.all()):
            return None
        log.warning("epoch %d step %d: %d model(s) diverged (non-finite loss and parameters); "
                    "they leave the stack", epoch, self.step, int((~ok).sum()))
        self.diverged[self.active[~ok]] = True
        self.stopped(self.active[~ok], epoch)
        keep = ok.nonzero().squeeze(1)
        self.shrink(keep)
        return keep

    def end_epoch(self, epoch: int) -> bool:
        """Validation, checkpoints and early stopping after an epoch; True when every model
        is done (the others leave the stack)."""
        val, val_acc = self.validate()
        self.validated_step = self.step
        limit = self.cfg.blowup_factor * self.initial_val[self.active].abs()
        blown = ~torch.isfinite(val) | (val > limit)
        if bool(blown.any()):
            log.warning("epoch %d: %d model(s) diverged (validation loss non-finite or above "
                        "%g x its initial value)", epoch, int(blown.sum()),
                        self.cfg.blowup_factor)
            self.diverged[self.active[blown]] = True
        improved = val < self.best_val[self.active] * (1 - self.cfg.min_delta)
        self.checkpoint(improved, val, epoch)
        done = ((self.step - self.best_step) >= self.cfg.patience_steps) | self.diverged
        if self.step >= self.cfg.max_steps:  # the budget is spent
            done[:] = True
        self.record(epoch, val, val_acc, blown, done)
        self.stopped(self.active[done[self.active]], epoch)
        if bool(done.all()):
            return True
        keep = (~done[self.active]).nonzero().squeeze(1)
        if len(keep) < len(self.active):
            self.shrink(keep)
        return False

    def stopped(self, models: Tensor, epoch: int) -> None:
        """Models (indices) that leave the stack now: the step and epoch they stopped at."""
        self.stop_step[models] = self.step
        self.stop_epoch[models] = epoch

    def checkpoint(self, improved: Tensor, val: Tensor, epoch: int) -> None:
        """Keep the parameters, loss and epoch of the active models that improved."""
        if not bool(improved.any()):
            return
        positions = improved.nonzero().squeeze(1)
        idx = self.active[positions]
        for name, key, value in self.live_state():
            self.best[name][key].index_copy_(0, idx, value.detach().index_select(0, positions))
        self.best_val[idx] = val[improved]
        self.best_epoch[idx] = epoch
        self.best_step[idx] = self.step

    def record(self, epoch: int, val: Tensor, val_acc: Tensor | None, blown: Tensor,
               done: Tensor) -> None:
        """The epoch's row of the history, and a progress line each time another
        ``log_every`` share of the step budget has passed (and at the end)."""
        val_mean = float(val[~blown].mean()) if bool((~blown).any()) else float("nan")
        row = {"epoch": epoch, "step": self.step, "val_loss_mean": val_mean,
               "done": int(done.sum()), "models_trained": len(self.active)}
        if val_acc is not None:
            row["val_acc_mean"] = float(val_acc.mean())
        self.history.append(row)
        every = max(1, int(self.cfg.log_every * self.cfg.max_steps))
        if self.step // every > self.logged or bool(done.all()):
            self.logged = self.step // every
            log.info("epoch %d (step %d): mean val loss %.4f (%d models trained), %d/%d models "
                     "stopped, %.1fs", epoch, self.step, val_mean, len(self.active),
                     int(done.sum()), self.n_models, time.perf_counter() - self.t0)

    def restore_best(self) -> None:
        """Load every model's best checkpoint; for regression fold the target scaling back
        into the head, so predictions are in the target's units."""
        self.model.load_stack_(self.best["model"])
        if self.extra is not None:
            replace_parameters_(self.extra, {n: self.best["extra"][n].clone()
                                             for n, _ in self.extra.named_parameters()})
        if self.task == "regression":
            with torch.no_grad():
                self.model.head_weight.mul_(self.sd.transpose(1, 2))
                self.model.head_bias.mul_(self.sd).add_(self.mu)

    def result(self, epochs_run: int) -> TrainResult:
        """The outcome per model; not converged: it hit the step cap (:func:`reached_cap`) or
        never improved on its initial validation loss (:func:`never_improved`)."""
        capped = reached_cap(self.best_step, self.step, self.cfg.max_steps,
                             self.cfg.patience_steps)
        stalled = never_improved(self.best_step, self.step)
        return TrainResult(
            diverged=self.diverged.cpu(),
            converged=(~capped & ~stalled & ~self.diverged).cpu(),
            best_epoch=self.best_epoch.cpu(),
            best_step=self.best_step.cpu(),
            best_val_loss=self.best_val.cpu(),
            epochs_run=epochs_run,
            steps_run=self.step,
            stop_step=self.stop_step.cpu(),
            stop_epoch=self.stop_epoch.cpu(),
            seconds=time.perf_counter() - self.t0,
            history=self.history,
            grad_steps=self.grad_steps,
            grad_multi=torch.stack(self.grad_multi) if self.grad_multi else None,
            grad_uni=torch.stack(self.grad_uni) if self.grad_uni else None,
            extra=self.extra,
        )


class _GraphStep:
    """The training step of a :class:`_StackRun` replayed from a CUDA graph: each minibatch is
    copied into static buffers and the forward pass, backward pass and optimiser step (fused
    Adam, ``capturable``) run as one graph launch instead of one launch per operation. A
    graph is captured per batch shape (a short last minibatch has its own) after ``warmup``
    eager steps of that shape (on a side stream, as capture requires); every graph is dropped
    when the stack shrinks (a model finished or diverged: new parameter tensors). The loss
    stays on the device; whether every loss of the epoch was finite is read once per epoch
    (:meth:`all_finite`), so a model whose loss turns NaN mid-epoch is dropped at the epoch's
    end (the models are independent: the others' updates are the same). With ``capture``
    off (the CPU) the same buffered step runs eagerly. A capture that fails (an operation
    that syncs with the host) is logged and the run goes on eagerly. It holds its run
    through a weak proxy: no reference cycle, so its graphs are destroyed as soon as the run
    is dropped, never by a later garbage collection that could fall inside another stack's
    capture (a destruction there is an operation capture forbids; on an H200 the capture of
    a later test's stack failed so, after an earlier test in the same process)."""

    def __init__(self, run: _StackRun, capture: bool, warmup: int = 3) -> None:
        self.run, self.capture, self.warmup = weakref.proxy(run), capture, warmup
        self.models = -1  # stack size the buffers and graphs were made for
        self.finite: Tensor | None = None  # [] bool: every loss since the last check finite

    def step(self, x: Tensor, y: Tensor) -> None:
        if len(self.run.active) != self.models:  # a shrink: the graphs hold old parameters
            self.models = len(self.run.active)
            self.buffers: dict[tuple, tuple[Tensor, Tensor]] = {}
            self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, Tensor]] = {}
            self.eager_steps: dict[tuple, int] = {}
        shape = (tuple(x.shape), tuple(y.shape))
        if shape not in self.buffers:
            self.buffers[shape] = (torch.empty_like(x), torch.empty_like(y))
        x_static, y_static = self.buffers[shape]
        x_static.copy_(x)
        y_static.copy_(y)
        warm = self.eager_steps.get(shape, 0)
        if shape not in self.graphs and self.capture and warm >= self.warmup:
            self._capture(shape, x_static, y_static)
        if shape in self.graphs:
            graph, loss = self.graphs[shape]
            graph.replay()
        else:
            loss = self._eager(x_static, y_static)
            self.eager_steps[shape] = warm + 1
        ok = torch.isfinite(loss)
        self.finite = ok if self.finite is None else self.finite & ok

    def all_finite(self) -> bool:
        """Whether every loss since the last call was finite (one host sync)."""
        ok = self.finite is None or bool(self.finite)
        self.finite = None
        return ok

    def _eager(self, x: Tensor, y: Tensor) -> Tensor:
        self.run.opt.zero_grad()
        if not self.capture:
            return self.run.update(x, y)
        return on_side_stream(lambda: self.run.update(x, y))

    def _capture(self, shape: tuple, x: Tensor, y: Tensor) -> None:
        self.run.opt.zero_grad()  # backward allocates the grads in the graph
        try:
            graph, loss = capture(lambda: self.run.update(x, y))
        except RuntimeError as err:
            log.warning("CUDA graph capture failed (%s); the step runs eagerly", err)
            self.capture = False
            return
        self.graphs[shape] = (graph, loss)
