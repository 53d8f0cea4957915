"""Huang et al. Table 4: measured beside exact and published values (rule huang2021_table4)."""

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_intermediate, read_table, write_csv, write_text
from dgl.pipeline.job import start_job
from dgl.studies.common import check_rows, with_cap_flag
from dgl.studies.huang2021 import huang_table4, huang_table4_markdown, is_huang2021_setting

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
metrics = with_cap_flag(pl.concat([read_intermediate(p) for p in sm.input.metrics],
                                   how="diagonal_relaxed"), sm.params.train)
check_rows(metrics, sm.params.rows, "huang2021 per-model metrics")
paper = read_table(sm.input.paper, comment_prefix="#")
if not is_huang2021_setting(**sm.params.setting):
    paper = None
table = huang_table4(metrics, paper)
write_csv(table, sm.output.csv, digits=4)
write_text(sm.output.md, huang_table4_markdown(table))
runs = metrics.sort("encoder", "overlap", "n_modalities", "subset", "seed")
write_csv(runs, sm.output.runs, digits=4)
