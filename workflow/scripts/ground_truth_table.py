"""Ground-truth tables of every classification setting (rule ground_truth_table)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import ground_truth_markdown, read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
subsets = pl.concat([read_table(p) for p in sm.input.subsets])
pid = pl.concat([read_table(p) for p in sm.input.pid])
regression = read_table(sm.input.regression)
subsets.write_csv(sm.output.csv, float_precision=6)
pid.write_csv(sm.output.pid, float_precision=6)
Path(sm.output.md).write_text(ground_truth_markdown(subsets, pid, regression))
