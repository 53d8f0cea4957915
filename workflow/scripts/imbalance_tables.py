"""Tables of the imbalance study (rule imbalance_tables)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_table, write_csv, write_text
from dgl.pipeline.logs import configure
from dgl.studies.imbalance import (chosen_rows, gradient_markdown, gradient_table,
                                   imbalance_markdown, imbalance_table)

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
settings = {k: list(v) for k, v in sm.params.settings.items()}
metrics = pl.concat([read_table(p) for p in sm.input.metrics], how="diagonal_relaxed")
truth = pl.concat([read_table(p) for p in sm.input.truth])
gradients = pl.concat([read_table(p) for p in sm.input.gradients])
sweep = read_table(sm.input.sweep)
chosen = chosen_rows(metrics, sweep)
table = imbalance_table(chosen, truth)
grads = gradient_table(gradients, chosen)
write_csv(table, sm.output.csv, digits=5)
write_csv(grads, sm.output.gradients, digits=5)
write_text(sm.output.md, imbalance_markdown(table, sweep, settings))
write_text(sm.output.gradients_md, gradient_markdown(grads, settings))
