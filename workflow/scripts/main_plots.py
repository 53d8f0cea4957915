"""Figures of the main study and the gradient-ratio figure (rule main_plots)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_intermediate, read_table, save_figure
from dgl.pipeline.job import start_job
from dgl.report.figures import gradient_ratio_figure, main_curves_figure, main_heatmap_figure

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
runs = read_table(sm.input.runs)
chosen = runs.filter(pl.col("chosen") & (pl.col("fraction") == runs["fraction"].max()))
gradients = pl.concat([read_intermediate(p) for p in sm.input.gradients], how="diagonal_relaxed")
save_figure(main_curves_figure(read_table(sm.input.methods)), sm.output.curves)
save_figure(main_heatmap_figure(read_table(sm.input.paired)), sm.output.heatmap)
save_figure(gradient_ratio_figure(gradients, chosen), sm.output.gradients)
