"""Gradient-norm traces of every variant point of one main-study cell (rule main_gradients)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import load_stacks, write_intermediate
from dgl.pipeline.job import start_job

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
write_intermediate(sm.params.job.gradients(load_stacks(sm.input.runs)), sm.output[0])
