"""Exact Bayes MSE of every subset at every overlap (rule huang2021_bayes_table)."""

from pathlib import Path

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from synth.ground_truth import bayes_mse_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
Path(sm.output[0]).parent.mkdir(parents=True, exist_ok=True)
bayes_mse_table(sm.params.generator, dict(sm.params.law), list(sm.params.overlaps)).write_csv(
    sm.output[0], float_precision=6
)
