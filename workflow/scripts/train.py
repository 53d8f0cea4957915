"""Train every stack of one cell of a study (rule train)."""

import logging

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import load_datasets, save_stacks
from dgl.pipeline.job import start_job

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
torch.set_num_threads(sm.threads)
cell = sm.params.job
logging.info("training cell %s of %s on %s", cell.name, sm.wildcards.study, list(sm.input))
stacks = cell.train(load_datasets(sm.input), sm.params.device)
logging.info("done: %d stack(s), %d models, %.1fs", len(stacks),
             sum(len(s.plan.specs) for s in stacks), sum(s.train_seconds for s in stacks))
save_stacks(sm.output[0], stacks)
