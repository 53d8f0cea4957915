"""Per-model losses and accuracy of a stack: every function maps a stack's predictions
[E, B, ...] to one number per model [E], so a sum over E is every model's own objective.

The task losses are registered by name (:data:`TASKS`): ``regression`` is the mean squared
error, ``classification`` the mean cross-entropy (nats).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from synth.registry import Registry

LossFn = Callable[[Tensor, Tensor], Tensor]  # (predictions [E, B, o], targets) -> loss [E]


def mse_per_model(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of each model: [E, B, o] x [E, B, o] -> [E]."""
    return ((pred - target) ** 2).mean(dim=(1, 2))


def ce_rows(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of every row, -log softmax(logits)[y]: [E, B, C], [E, B] -> [E, B]."""
    # classes on dim 1 ([E, C, B]): the log-softmax runs along the rows, vectorised, several
    # times faster on the CPU than over a last dimension of C classes
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")


def ce_per_model(logits: Tensor, target: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Mean cross-entropy (nats) of each model: logits [E, B, C], class indices [E, B] -> [E].

    The per-row cross-entropies (:func:`ce_rows`) are averaged over the B rows in ``dtype``
    (default: the logits' own; float64 gives the averages of the evaluation tables).
    """
    ce = ce_rows(logits, target)
    return (ce if dtype is None else ce.to(dtype)).mean(dim=1)


def accuracy_per_model(logits: Tensor, target: Tensor) -> Tensor:
    """Share of rows whose argmax class is the label, per model: [E, B, C], [E, B] -> [E]
    (float64)."""
    return (logits.argmax(-1) == target).double().mean(dim=1)


#: The task loss of each task, by name.
TASKS: Registry[LossFn] = Registry("task")
TASKS.register("regression")(mse_per_model)
TASKS.register("classification")(ce_per_model)
