"""Ground-truth tables of every classification setting (rule ground_truth_table)."""


import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.logs import configure
from dgl.tables import ground_truth_markdown, read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
subsets = pl.concat([read_table(p) for p in sm.input.subsets])
pid = pl.concat([read_table(p) for p in sm.input.pid])
regression = read_table(sm.input.regression)
atomic_write(sm.output.csv, lambda p: subsets.write_csv(p, float_precision=6))
atomic_write(sm.output.pid, lambda p: pid.write_csv(p, float_precision=6))
write_text(sm.output.md, ground_truth_markdown(subsets, pid, regression))
