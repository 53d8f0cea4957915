"""Theory-study tables (rule theory_tables)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.pipeline.io import read_intermediate, write_csv, write_text
from dgl.pipeline.job import start_job
from dgl.studies.common import check_rows, with_cap_flag
from dgl.studies.theory import METRIC_FLOATS, theory_markdown, theory_tables

sm = snakemake  # noqa: F821  (injected by Snakemake)
start_job(sm.log[0])
metrics = with_cap_flag(pl.concat([read_intermediate(p).with_columns(pl.col(METRIC_FLOATS)
                                                             .cast(pl.Float64))
                                   for p in sm.input.metrics], how="diagonal_relaxed"),
                        sm.params.train)
check_rows(metrics, sm.params.rows, "theory per-model metrics")
runs = metrics.sort("task", "encoder", "overlap", "fraction", "n_modalities", "subset", "seed")
write_csv(runs, sm.output.runs, digits=6)
tables_dir = Path(sm.output.runs).parent
tables = theory_tables(metrics, dict(sm.params.k), margin_share=sm.params.equal_margin,
                       k_bound=sm.params.theorem1_k)
for name, (frame, head) in tables.items():
    write_csv(frame, tables_dir / f"{name}.csv", digits=6)
    write_text(tables_dir / f"{name}.md", theory_markdown(name, frame, head))
