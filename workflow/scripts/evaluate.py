"""Per-model metrics of every stack of one cell of a study (rule evaluate)."""

import torch

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import load_datasets, load_stacks, read_intermediate, write_intermediate
from dgl.pipeline.job import start_job
from dgl.train.heap import reuse_freed_memory
from dgl.train.trainer import resolve_device

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
reuse_freed_memory()  # freed arrays reused, not faulted in again (dgl.train.heap)
torch.set_num_threads(sm.threads)
extra = [read_intermediate(p) for p in sm.input.extra]  # the study's other tables (see the rule)
device = resolve_device(sm.params.device)  # where the logistic probes are fitted
metrics = sm.params.job.evaluate(load_datasets(sm.input.data), load_stacks(sm.input.runs), *extra,
                                 device=device)
write_intermediate(metrics, sm.output[0])
