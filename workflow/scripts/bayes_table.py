"""Exact Bayes MSE of every subset at every overlap (rule huang2021_bayes_table)."""


import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write
from dgl.logs import configure
from synth.ground_truth import bayes_mse_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
table = bayes_mse_table(sm.params.generator, dict(sm.params.law), list(sm.params.overlaps))
atomic_write(sm.output[0], lambda p: table.write_csv(p, float_precision=6))
