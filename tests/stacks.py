"""Trained stacks built by hand for tests: fixed encoders whose latent quality the law gives."""

import numpy as np
import torch

from dgl.train.models import ModelConfig, StackedLateFusion
from dgl.train.stack import CellSpec, StackPlan, TrainedStack
from dgl.train.trainer import TrainConfig
from synth.datasets import Splits


def fixed_linear_stack(weights: list[np.ndarray], subsets: list[str], seeds: list[int],
                       dims: tuple[int, ...], splits: Splits, overlap: float = 0.0,
                       n_classes: int = 1) -> TrainedStack:
    """A 'trained' stack of every (seed, subset) model whose encoder k is the fixed linear map
    ``weights[k]`` (no bias); a regression stack when ``n_classes`` is 1."""
    specs = tuple(CellSpec(overlap, s, sub) for s in seeds for sub in subsets)
    task = "regression" if n_classes == 1 else "classification"
    model = ModelConfig(dims, weights[0].shape[1], "linear", n_classes)
    plan = StackPlan(task=task, model=model, specs=specs, splits=splits, train=TrainConfig(),
                     tag="fixed")
    init = tuple(range(len(specs)))
    model = StackedLateFusion(plan.model, plan.masks(), init)
    with torch.no_grad():
        for k, w in enumerate(weights):
            w = torch.as_tensor(w, dtype=torch.float32)
            model.enc_weight[k].copy_(w.expand(len(specs), -1, -1))
            model.enc_bias[k].zero_()
    n = len(specs)
    return TrainedStack(plan=plan, state=dict(model.state_dict()), extra_state=None,
                        init_seeds=init, order_seeds=init, diverged=(False,) * n,
                        converged=(True,) * n, best_epoch=(1,) * n, best_step=(1,) * n,
                        epochs_run=1, steps_run=1, train_seconds=0.0, history=(), device="cpu")
