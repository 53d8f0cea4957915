"""Every sweep point and the variant chosen on validation, once (rule imbalance_sweep)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, write_csv
from dgl.pipeline.logs import configure
from dgl.studies.imbalance import sweep_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
sweep = sweep_table(pl.concat([read_table(p) for p in sm.input.fused], how="diagonal_relaxed"))
write_csv(sweep, sm.output.work)  # full precision: evaluation and tables read this one
write_csv(sweep, sm.output.table, digits=5)
