"""Figure: PID atoms against overlap and synergy (rule ground_truth_plot)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import read_table
from dgl.plots import plot_pid_vs_overlap

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
plot_pid_vs_overlap(read_table(sm.input.pid), sm.output[0])
