"""Draw one data file: every seed of one law at one overlap (rule data)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import save_datasets
from dgl.pipeline.job import start_job

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
save_datasets(sm.output[0], sm.params.job.draw())
