"""Huang et al. Table 4: measured beside exact and published values (rule huang2021_table4)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import huang_table4, huang_table4_markdown, is_huang2021_setting, read_table

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
metrics = pl.concat([read_table(p) for p in sm.input.metrics], how="vertical")
paper = read_table(sm.input.paper, comment_prefix="#")
if not is_huang2021_setting(**sm.params.setting):
    paper = None
table = huang_table4(metrics, paper)
for path in sm.output:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
table.write_csv(sm.output.csv, float_precision=4)
Path(sm.output.md).write_text(huang_table4_markdown(table))
metrics.sort("encoder", "overlap", "n_modalities", "subset", "seed").write_csv(
    sm.output.runs, float_precision=4
)
