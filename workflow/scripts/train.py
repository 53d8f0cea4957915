"""Train every (seed, subset) model of one cell as a single stack (rule huang2021_train)."""

import logging

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.runs import cell_specs, save_bundle, train_cell
from dgl.trainer import TrainConfig
from synth.datasets import Splits, load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
x, y, seeds = load_datasets(sm.input[0])
specs = cell_specs(seeds, list(sm.params.subsets))
logging.info("training %d models (%s encoder) on %s", len(specs), sm.wildcards.encoder, sm.input[0])
bundle = train_cell(
    x, y, seeds,
    Splits(sm.params.n_train, sm.params.n_test, sm.params.val_fraction),
    tuple(sm.params.modality_dims), specs, sm.wildcards.encoder, sm.params.width,
    TrainConfig(**sm.params.train), device=sm.params.device,
)
logging.info("done in %.1fs, %d epochs", bundle["train_seconds"], bundle["epochs_run"])
save_bundle(bundle, sm.output[0])
