"""Figures of the theory study (rule theory_plots)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, save_figure
from dgl.pipeline.job import start_job
from dgl.report.figures import accuracy_figure, eta_figure, gamma_figure

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
runs, gamma = read_table(sm.input.runs), read_table(sm.input.gamma)
save_figure(eta_figure(runs), sm.output.eta)
save_figure(accuracy_figure(runs), sm.output.accuracy)
save_figure(gamma_figure(runs, gamma), sm.output.gamma)
