"""Train every method variant (and sweep point) of one imbalance setting (rule imbalance_train)."""

import logging

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from dgl.runs import expand_variants, imbalance_specs, train_classification_stack
from dgl.trainer import TrainConfig
from synth import make_law
from synth.datasets import Splits, load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
x, y, seeds = load_datasets(sm.input[0])
law = sm.params.law
dims = make_law(law["generator"], **law["params"], overlap=0.0).modality_dims
splits = Splits(**sm.params.splits)
grid = expand_variants(dict(sm.params.variants))
cfg = TrainConfig(**sm.params.train)
bundles = []
for i, entry in enumerate(grid, 1):
    specs = imbalance_specs(entry["method"], list(law["overlaps"]), seeds, len(dims))
    bundle = train_classification_stack(
        x, y, splits, dims, specs, law["params"]["n_classes"], entry["method"],
        entry["options"], sm.params.model["encoder"], sm.params.model["width"],
        sm.params.model["fusion"], cfg, entry["tag"], device=sm.params.device,
    )
    bundle["variant"] = entry["variant"]
    bundles.append(bundle)
    logging.info("[%d/%d] %s: %d models, %.1fs", i, len(grid), entry["tag"], len(specs),
                 bundle["train_seconds"])
atomic_write(sm.output[0], lambda p: torch.save(bundles, p))
