"""Tables of the imbalance study (rule imbalance_tables)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import (gradient_markdown, gradient_table, imbalance_markdown, imbalance_table,
                        read_table, select_variants)

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
settings = {k: list(v) for k, v in sm.params.settings.items()}
metrics = pl.concat([read_table(p) for p in sm.input.metrics])
truth = pl.concat([read_table(p) for p in sm.input.truth])
gradients = pl.concat([read_table(p) for p in sm.input.gradients])
chosen, sweep = select_variants(metrics)
table = imbalance_table(chosen, truth)
grads = gradient_table(gradients, chosen)
table.write_csv(sm.output.csv, float_precision=5)
sweep.write_csv(sm.output.sweep, float_precision=5)
grads.write_csv(sm.output.gradients, float_precision=5)
Path(sm.output.md).write_text(imbalance_markdown(table, sweep, settings))
Path(sm.output.gradients_md).write_text(gradient_markdown(grads, settings))
