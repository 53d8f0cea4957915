"""Figure: |g_multi| / |g_uni| per encoder over training (rule imbalance_plot)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.plots import plot_gradient_ratio
from dgl.tables import read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
gradients = pl.concat([read_table(p) for p in sm.input.gradients])
plot_gradient_ratio(gradients, read_table(sm.input.sweep), sm.output[0])
