"""Figure: test MSE against overlap, measured and exact (rule huang2021_plot)."""

import numpy as np

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, save_figure
from dgl.pipeline.job import start_job
from dgl.report.figures import mse_vs_overlap_figure
from synth import parse_subset
from synth.ground_truth import bayes_mse_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
table = read_table(sm.input.table)
law = sm.params.law
k = law.build(overlap=0.0).n_modalities
subsets = [parse_subset(s, k) for s in table["subset"].unique()]
exact = bayes_mse_table(law.generator, dict(law.params), np.linspace(0, 1, 51).tolist(), subsets)
save_figure(mse_vs_overlap_figure(table, exact), sm.output[0])
