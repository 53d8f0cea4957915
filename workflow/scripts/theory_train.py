"""Train every (seed, subset) model at every sample-size fraction of one cell
(rule theory_train)."""

import logging

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from dgl.theory import fraction_data, train_fraction
from dgl.trainer import TrainConfig
from synth import all_subsets, format_subset, make_law
from synth.datasets import load_datasets

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
law = make_law(sm.params.law["generator"], **sm.params.law["params"])
x, y, seeds = load_datasets(sm.input[0])
subsets = [format_subset(s) for s in all_subsets(law.n_modalities)]
n_classes = getattr(law, "n_classes", 1)
bundles = []
for fraction in sm.params.fractions:
    xf, yf, splits = fraction_data(x, y, sm.params.n_max, sm.params.n_eval, fraction,
                                   sm.params.val_fraction)
    bundle = train_fraction(sm.wildcards.task, xf, yf, seeds, splits, law.modality_dims, subsets,
                            sm.wildcards.encoder, sm.params.width, TrainConfig(**sm.params.train),
                            n_classes, f"theory_f{fraction:g}", sm.params.device)
    bundle["fraction"], bundle["n_train"] = fraction, splits.n_train
    bundles.append(bundle)
    logging.info("fraction %g (%d rows): %d models, %d epochs, %.1fs", fraction, splits.n_train,
                 len(bundle["specs"]), bundle["epochs_run"], bundle["train_seconds"])
atomic_write(sm.output[0], lambda p: torch.save(bundles, p))
