"""Exact PIDs of the regression generator with label noise (rule ground_truth_regression_pid)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import write_csv
from dgl.pipeline.job import start_job

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
write_csv(sm.params.study.regression_pid(), sm.output[0], digits=6)
