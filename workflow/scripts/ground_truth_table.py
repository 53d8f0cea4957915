"""Ground-truth tables of every classification setting (rule ground_truth_table)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_intermediate, read_table, write_csv, write_text
from dgl.pipeline.job import start_job
from dgl.studies.ground_truth import ground_truth_markdown

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
subsets = pl.concat([read_intermediate(p) for p in sm.input.subsets])
pid = pl.concat([read_intermediate(p) for p in sm.input.pid])
regression = read_table(sm.input.regression)
write_csv(subsets, sm.output.csv, digits=6)
write_csv(pid, sm.output.pid, digits=6)
write_text(sm.output.md, ground_truth_markdown(subsets, pid, regression))
