"""Figure: |g_multi| / |g_uni| per encoder over training (rule imbalance_plot)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, save_figure
from dgl.pipeline.logs import configure
from dgl.report.figures import gradient_ratio_figure

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
gradients = pl.concat([read_table(p) for p in sm.input.gradients])
save_figure(gradient_ratio_figure(gradients, read_table(sm.input.sweep)), sm.output[0])
