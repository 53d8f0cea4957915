"""Figure: test MSE against overlap, measured and exact (rule huang2021_plot)."""

import numpy as np

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import read_table
from dgl.plots import plot_mse_vs_overlap
from synth import parse_subset
from synth.ground_truth import bayes_mse_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
table = read_table(sm.input.table)
law = dict(sm.params.law)
subsets = [parse_subset(s, law["n_modalities"]) for s in table["subset"].unique()]
exact = bayes_mse_table(sm.params.generator, law, np.linspace(0, 1, 51).tolist(), subsets)
plot_mse_vs_overlap(table, exact, sm.output[0])
