"""Huang et al. Table 4: measured beside exact and published values (rule huang2021_table4)."""


import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.logs import configure
from dgl.tables import huang_table4, huang_table4_markdown, is_huang2021_setting, read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
metrics = pl.concat([read_table(p) for p in sm.input.metrics], how="diagonal_relaxed")
paper = read_table(sm.input.paper, comment_prefix="#")
if not is_huang2021_setting(**sm.params.setting):
    paper = None
table = huang_table4(metrics, paper)
atomic_write(sm.output.csv, lambda p: table.write_csv(p, float_precision=4))
write_text(sm.output.md, huang_table4_markdown(table))
runs = metrics.sort("encoder", "overlap", "n_modalities", "subset", "seed")
atomic_write(sm.output.runs, lambda p: runs.write_csv(p, float_precision=4))
