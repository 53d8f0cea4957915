"""Draw one data file: every seed of one law at one overlap (rule data)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import save_datasets
from dgl.pipeline.logs import configure

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
save_datasets(sm.output[0], sm.params.job.draw())
