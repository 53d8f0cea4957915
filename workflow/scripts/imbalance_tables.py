"""Tables of the imbalance study (rule imbalance_tables)."""


import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.logs import configure
from dgl.tables import (gradient_markdown, gradient_table, imbalance_markdown, imbalance_table,
                        read_table, select_variants)

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
settings = {k: list(v) for k, v in sm.params.settings.items()}
metrics = pl.concat([read_table(p) for p in sm.input.metrics], how="diagonal_relaxed")
truth = pl.concat([read_table(p) for p in sm.input.truth])
gradients = pl.concat([read_table(p) for p in sm.input.gradients])
chosen, sweep = select_variants(metrics)
table = imbalance_table(chosen, truth)
grads = gradient_table(gradients, chosen)
atomic_write(sm.output.csv, lambda p: table.write_csv(p, float_precision=5))
atomic_write(sm.output.sweep, lambda p: sweep.write_csv(p, float_precision=5))
atomic_write(sm.output.gradients, lambda p: grads.write_csv(p, float_precision=5))
write_text(sm.output.md, imbalance_markdown(table, sweep, settings))
write_text(sm.output.gradients_md, gradient_markdown(grads, settings))
