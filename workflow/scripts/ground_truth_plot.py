"""Figure: PID atoms against overlap and synergy (rule ground_truth_plot)."""

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, save_figure
from dgl.pipeline.job import start_job
from dgl.report.figures import pid_vs_overlap_figure

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
save_figure(pid_vs_overlap_figure(read_table(sm.input.pid)), sm.output[0])
