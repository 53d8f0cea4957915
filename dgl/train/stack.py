"""A stack of models from its plan to its trained record: one function trains it
(:func:`train_plan`), one rebuilds it (:func:`restore`).

Every study describes what it trains as :class:`StackPlan` records: the models of a stack
(:class:`CellSpec`: overlap, seed and modality subset of each), their architecture, the rows
they train on, the method and the budget. :func:`train_plan` draws every model's seeds from
its spec and the plan's tag, trains the stack with the one batched trainer and returns a
:class:`TrainedStack`: the plan, the trained parameters and the outcome of training. A
trained stack is saved and loaded as plain tensors and numbers (:meth:`TrainedStack.to_state`,
:meth:`TrainedStack.from_state`; the pipeline layer writes the file and reads it back with
``torch.load(weights_only=True)``), so no code is ever unpickled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dgl.train.methods import METHODS, Method, make_method
from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.trainer import StackData, TrainConfig, TrainResult, resolve_device, train_stack
from synth.datasets import Datasets, Splits
from synth.seeding import derive_seed
from synth.subsets import parse_subset


@dataclass(frozen=True)
class CellSpec:
    """Model e of a stack: it trains on the dataset drawn at ``overlap`` with ``seed`` and sees
    the modalities of ``subset`` (text form, e.g. '1+3')."""

    overlap: float
    seed: int
    subset: str


@dataclass(frozen=True)
class StackPlan:
    """Everything that defines one stack before it is trained.

    ``tag`` names the stack in tables and seeds its random streams: model e is initialised
    from derive_seed(seed_e, 'init', subset_e, tag) and shuffled by derive_seed(seed_e,
    'order', subset_e, tag). ``variant`` is the method variant the tables show it as;
    ``fraction`` the share of the study's training rows it sees (the theory study's sample-size
    axis; 1 elsewhere); ``splits`` the rows of each dataset it trains on (fit, then
    validation) and is tested on. ``pair_tag``, when set, replaces (tag, subset) in the
    seeds: model e is then initialised from derive_seed(seed_e, 'init', pair_tag) and
    shuffled by derive_seed(seed_e, 'order', pair_tag), so every method, subset and stack of
    a seed that shares the pair tag starts from the same parameters (every modality's encoder
    is drawn whatever the subset) and sees its rows in the same order (paired comparisons).
    """

    task: str
    model: ModelConfig
    specs: tuple[CellSpec, ...]
    splits: Splits
    train: TrainConfig
    tag: str
    method: str = "joint"
    options: Mapping[str, Any] = field(default_factory=dict)
    variant: str = "joint"
    fraction: float = 1.0
    pair_tag: str = ""

    def masks(self) -> Tensor:
        """[E, K] booleans: model e sees the modalities of its subset."""
        return masks_from_subsets([s.subset for s in self.specs], len(self.model.modality_dims))

    def seeds(self, stream: str) -> tuple[int, ...]:
        """Per-model seeds of a random stream ('init' or 'order')."""
        if self.pair_tag:
            return tuple(derive_seed(s.seed, stream, self.pair_tag) for s in self.specs)
        return tuple(derive_seed(s.seed, stream, s.subset, self.tag) for s in self.specs)

    def method_options(self) -> dict[str, Any]:
        """The method's options, with the seed of its own noise (when it draws any) derived
        from the first model's seed and the tag."""
        options = dict(self.options)
        stream = METHODS.get(self.method).noise_stream
        if stream is not None:
            options.setdefault("seed", derive_seed(self.specs[0].seed, stream, self.tag))
        return options

    def to_state(self) -> dict[str, Any]:
        return {"task": self.task, "model": asdict(self.model),
                "specs": [asdict(s) for s in self.specs], "splits": asdict(self.splits),
                "train": asdict(self.train), "tag": self.tag, "method": self.method,
                "options": dict(self.options), "variant": self.variant,
                "fraction": self.fraction, "pair_tag": self.pair_tag}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StackPlan:
        return cls(task=state["task"], model=ModelConfig(**state["model"]),
                   specs=tuple(CellSpec(**s) for s in state["specs"]),
                   splits=Splits(**state["splits"]), train=TrainConfig(**state["train"]),
                   tag=state["tag"], method=state["method"], options=dict(state["options"]),
                   variant=state["variant"], fraction=state["fraction"],
                   pair_tag=state.get("pair_tag", ""))


@dataclass(frozen=True)
class TrainedStack:
    """A trained stack: its plan, the trained parameters (model state and the method's extra
    modules, on the CPU), the seeds drawn, and the outcome of training per model."""

    plan: StackPlan
    state: dict[str, Tensor]
    extra_state: dict[str, Tensor] | None
    init_seeds: tuple[int, ...]
    order_seeds: tuple[int, ...]
    diverged: tuple[bool, ...]
    converged: tuple[bool, ...]  # False: hit the step cap before its patience ran out, or
    # never improved on its initial validation loss
    best_epoch: tuple[int, ...]
    best_step: tuple[int, ...]
    epochs_run: int
    steps_run: int
    train_seconds: float
    history: tuple[dict[str, float], ...]
    device: str
    grad_steps: tuple[int, ...] = ()
    grad_multi: Tensor | None = None  # [n_probes, K, E]
    grad_uni: Tensor | None = None  # [n_probes, K, E]

    def to_state(self) -> dict[str, Any]:
        """Plain containers of tensors, numbers and strings (loadable with weights_only)."""
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        state["plan"] = self.plan.to_state()
        state["history"] = [dict(row) for row in self.history]
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TrainedStack:
        values = dict(state)
        values["plan"] = StackPlan.from_state(state["plan"])
        for name in ("init_seeds", "order_seeds", "diverged", "converged", "best_epoch",
                     "best_step", "history", "grad_steps"):
            values[name] = tuple(values[name])
        return cls(**values)


def masks_from_subsets(subsets: Sequence[str], n_modalities: int) -> Tensor:
    """[E, K] booleans: model e sees the modalities of ``subsets[e]`` (e.g. '1+3')."""
    masks = torch.zeros(len(subsets), n_modalities, dtype=torch.bool)
    for e, text in enumerate(subsets):
        masks[e, list(parse_subset(text, n_modalities))] = True
    return masks


def dataset_positions(plan: StackPlan, datasets: Datasets) -> list[int]:
    """Position in ``datasets`` of each model's dataset (its (overlap, seed))."""
    return [datasets.index(s.overlap, s.seed) for s in plan.specs]


def stack_data(plan: StackPlan, datasets: Datasets, device: torch.device) -> StackData:
    """The training and validation rows of every dataset on the device (never the test
    rows); model e reads the dataset of its (overlap, seed)."""
    splits, n_models = plan.splits, len(plan.specs)
    x, y = datasets.x[:, : splits.n_train], datasets.y[:, : splits.n_train]
    if plan.task == "regression":
        y_t = torch.as_tensor(y[..., None], dtype=torch.float32, device=device)
    else:
        y_t = torch.as_tensor(y, dtype=torch.long, device=device)
    group = torch.tensor(dataset_positions(plan, datasets), dtype=torch.long)
    return StackData(
        x=torch.as_tensor(x, dtype=torch.float32, device=device),
        y=y_t,
        group=group.to(device),
        train_idx=torch.arange(splits.n_fit).expand(n_models, -1).contiguous().to(device),
        val_idx=torch.arange(splits.n_fit, splits.n_train).expand(n_models, -1).contiguous()
        .to(device),
    )


def train_plan(plan: StackPlan, datasets: Datasets, device: str = "cpu") -> TrainedStack:
    """Train the stack ``plan`` describes on ``datasets`` (every (overlap, seed) its specs
    name) with the one batched trainer."""
    dev = resolve_device(device)
    data = stack_data(plan, datasets, dev)
    init_seeds, order_seeds = plan.seeds("init"), plan.seeds("order")
    method = make_method(plan.method, **plan.method_options())
    model = StackedLateFusion(plan.model, plan.masks(), init_seeds).to(dev)
    result = train_stack(model, data, plan.train, list(order_seeds), task=plan.task,
                         method=method)
    return _record(plan, model, result, init_seeds, order_seeds, dev)


def _record(plan: StackPlan, model: StackedLateFusion, result: TrainResult,
            init_seeds: tuple[int, ...], order_seeds: tuple[int, ...], dev: torch.device
            ) -> TrainedStack:
    """The trained stack's record (parameters on the CPU)."""
    extra = result.extra
    return TrainedStack(
        plan=plan,
        state={k: v.cpu() for k, v in model.state_dict().items()},
        extra_state=({k: v.cpu() for k, v in extra.state_dict().items()}
                     if extra is not None else None),
        init_seeds=init_seeds, order_seeds=order_seeds,
        diverged=tuple(result.diverged.tolist()), converged=tuple(result.converged.tolist()),
        best_epoch=tuple(result.best_epoch.tolist()), best_step=tuple(result.best_step.tolist()),
        epochs_run=result.epochs_run, steps_run=result.steps_run, train_seconds=result.seconds,
        history=tuple(result.history), device=str(dev), grad_steps=tuple(result.grad_steps),
        grad_multi=result.grad_multi, grad_uni=result.grad_uni,
    )


def train_plans(plans: Sequence[StackPlan], datasets: Datasets, device: str = "cpu"
                ) -> list[TrainedStack]:
    """Train every plan, in order; plans of one method that differ only in their models,
    tag, variant and the method's per-model options (e.g. the points of an option sweep,
    :attr:`~dgl.train.methods.Method.per_model_options`) train as one stack
    (:func:`train_together`): a step of 2E models costs much less than two steps of E."""
    groups: dict[tuple, list[int]] = {}
    for i, plan in enumerate(plans):
        groups.setdefault(_merge_key(plan), []).append(i)
    out: list[TrainedStack | None] = [None] * len(plans)
    for members in groups.values():
        group = [plans[i] for i in members]
        trained = train_together(group, datasets, device) if len(group) > 1 \
            else [train_plan(group[0], datasets, device)]
        for i, stack in zip(members, trained):
            out[i] = stack
    return out


def _merge_key(plan: StackPlan) -> tuple:
    """Plans with equal keys can train as one stack: everything but the models, tag, variant
    and per-model options equal (a plan whose other options differ gets its own key)."""
    per_model = METHODS.get(plan.method).per_model_options
    fixed = tuple(sorted((k, repr(v)) for k, v in plan.options.items() if k not in per_model))
    return (plan.task, plan.model, plan.splits, plan.train, plan.method, plan.fraction,
            plan.pair_tag, tuple(sorted(plan.options)), fixed)


def train_together(plans: Sequence[StackPlan], datasets: Datasets, device: str = "cpu"
                   ) -> list[TrainedStack]:
    """Plans of one :func:`_merge_key` trained as one stack, then split into one record per
    plan. Every model keeps its own seeds and options (a per-model option of the method takes
    each plan's value for its models), so its training is the one its plan alone would give,
    up to float rounding (as a stack against its models one at a time; tested for dgl), with
    two exceptions drawn once for the whole stack: dgl_pid's auxiliary heads' initial
    parameters and OGM-GE's gradient noise (the noise seed of the first plan). Each record's
    steps_run and epochs_run are those of its own last model; its history is the joint
    stack's, and its train_seconds the joint stack's seconds times its share of the models."""
    merged = dataclasses.replace(plans[0], specs=tuple(s for p in plans for s in p.specs),
                                 options=_merged_options(plans))
    dev = resolve_device(device)
    init_seeds = tuple(s for p in plans for s in p.seeds("init"))
    order_seeds = tuple(s for p in plans for s in p.seeds("order"))
    model = StackedLateFusion(merged.model, merged.masks(), init_seeds).to(dev)
    result = train_stack(model, stack_data(merged, datasets, dev), merged.train,
                         list(order_seeds), task=merged.task,
                         method=make_method(merged.method, **merged.options))
    whole = _record(merged, model, result, init_seeds, order_seeds, dev)
    out, start = [], 0
    for plan in plans:
        part = torch.arange(start, start + len(plan.specs))
        out.append(_part(whole, plan, part, result))
        start += len(plan.specs)
    return out


def _merged_options(plans: Sequence[StackPlan]) -> dict[str, Any]:
    """The method options of plans trained together: a per-model option that differs between
    them as one value per model (in stack order); every other option as the first plan has
    it (equal in all by :func:`_merge_key`, except a noise seed derived from the tag)."""
    options = [p.method_options() for p in plans]
    merged = dict(options[0])
    for name in METHODS.get(plans[0].method).per_model_options:
        if name in merged and len({repr(o[name]) for o in options}) > 1:
            merged[name] = [o[name] for o, p in zip(options, plans) for _ in p.specs]
    return merged


def _part(whole: TrainedStack, plan: StackPlan, part: Tensor, result: TrainResult
          ) -> TrainedStack:
    """The record of the models ``part`` of a stack trained together, under their plan."""
    idx = part.tolist()

    def pick(values: tuple) -> tuple:
        return tuple(values[i] for i in idx)

    steps = int(result.stop_step[part].max())
    probes = [p for p, step in enumerate(whole.grad_steps) if step < steps]

    def trace(grad: Tensor | None) -> Tensor | None:
        return None if grad is None else grad[probes][:, :, part]

    return dataclasses.replace(
        whole, plan=plan, state={k: v[part].clone() for k, v in whole.state.items()},
        extra_state=(None if whole.extra_state is None
                     else {k: v[part].clone() for k, v in whole.extra_state.items()}),
        init_seeds=pick(whole.init_seeds), order_seeds=pick(whole.order_seeds),
        diverged=pick(whole.diverged), converged=pick(whole.converged),
        best_epoch=pick(whole.best_epoch), best_step=pick(whole.best_step),
        epochs_run=int(result.stop_epoch[part].max()), steps_run=steps,
        train_seconds=whole.train_seconds * len(idx) / len(whole.diverged),
        grad_steps=tuple(whole.grad_steps[p] for p in probes),
        grad_multi=trace(whole.grad_multi), grad_uni=trace(whole.grad_uni))


@dataclass(frozen=True)
class RestoredStack:
    """A trained stack rebuilt on the CPU: the model, its method and the method's extra
    modules (auxiliary heads), ready to predict."""

    model: StackedLateFusion
    method: Method
    extra: torch.nn.Module | None

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """The method's predictions for inputs x [E, B, D] (rows of each model's dataset)."""
        return self.method.logits(self.model, self.extra, x)


def restore(stack: TrainedStack) -> RestoredStack:
    """Rebuild a trained stack on the CPU (the inverse of :func:`train_plan`'s record)."""
    plan = stack.plan
    model = StackedLateFusion(plan.model, stack.state["masks"], stack.init_seeds)
    model.load_state_dict(stack.state)
    method = make_method(plan.method, **plan.method_options())
    extra = method.setup(model)
    if extra is not None:
        extra.load_state_dict(stack.extra_state)
    return RestoredStack(model, method, extra)


@torch.no_grad()
def map_rows(fn: Callable[[Tensor], Tensor], x: np.ndarray, group: Sequence[int],
             rows: slice | np.ndarray | None = None, chunk: int = 8192) -> Tensor:
    """``fn`` on every model's inputs: model e reads ``x[group[e]]`` (``x`` [G, N, D]) on
    ``rows`` (default: all N), taken chunk by chunk as [E, chunk, D] float32 tensors; the
    results [E, chunk, ...] are written into one [E, n, ...] tensor. Evaluation reads its rows
    this way, never from a copy of every row per model (a theory evaluation's forward pass of
    35 models on 100 000 rows held 2.9 GB)."""
    data = x.numpy() if isinstance(x, Tensor) else x  # a CPU tensor's memory, not a copy
    rows = np.arange(data.shape[1])[slice(None) if rows is None else rows]
    group, out = np.asarray(group), None
    for start in range(0, len(rows), chunk):
        part = fn(torch.as_tensor(_chunk_rows(data, group, rows[start : start + chunk]),
                                  dtype=torch.float32))
        if out is None:
            out = part.new_empty((part.shape[0], len(rows), *part.shape[2:]))
        out[:, start : start + part.shape[1]] = part
    return out


def _chunk_rows(data: np.ndarray, group: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``data[group][:, rows]`` without a copy of every row: consecutive rows are a view
    first, then the models' datasets are taken (5.8 ms for 35 x 8 192 x 30, against 8.3 ms
    by two-axis fancy indexing, which other rows still use)."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1 and bool((np.diff(rows) == 1).all()):
        return data[:, int(rows[0]) : int(rows[-1]) + 1][group]
    return data[np.ix_(group, rows)]


def stack_logits(restored: RestoredStack, stack: TrainedStack, datasets: Datasets,
                 rows: slice | np.ndarray) -> tuple[list[int], Tensor]:
    """Each model's dataset position and the method's logits [E, n, o] on ``rows`` of its
    dataset (:func:`map_rows`)."""
    group = dataset_positions(stack.plan, datasets)
    return group, map_rows(restored.logits, datasets.x, group, rows)
