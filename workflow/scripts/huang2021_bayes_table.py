"""Exact Bayes MSE of every subset at every overlap (rule huang2021_bayes_table)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import write_csv
from dgl.pipeline.job import start_job
from synth.ground_truth import bayes_mse_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
law = sm.params.law
write_csv(bayes_mse_table(law.generator, dict(law.params), list(sm.params.overlaps)),
          sm.output[0], digits=6)
