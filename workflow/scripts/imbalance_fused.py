"""Fused validation and test metrics of every variant point of one setting, and the gradient
traces (rule imbalance_fused)."""

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import load_datasets, load_stacks, write_csv
from dgl.pipeline.logs import configure

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
torch.set_num_threads(sm.threads)
cell, stacks = sm.params.job, load_stacks(sm.input.runs)
write_csv(cell.evaluate_fused(load_datasets(sm.input.data), stacks), sm.output.fused)
write_csv(cell.gradients(stacks), sm.output.gradients)
