"""Figures of the theory study (rule theory_plots)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.plots import plot_theory
from dgl.tables import read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
plot_theory(read_table(sm.input.runs), read_table(sm.input.gamma), sm.output.eta,
            sm.output.accuracy, sm.output.gamma)
