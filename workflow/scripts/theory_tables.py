"""Theory-study tables and results/README.md (rule theory_tables)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.outputs import atomic_write, write_text
from dgl.logs import configure
from dgl.tables import read_table
from dgl.theory_tables import frame_markdown, theory_tables

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
FLOATS = ["model_risk", "refit_risk", "bayes_risk_subset", "bayes_risk_all", "eta", "model_acc",
          "refit_acc", "bayes_acc_subset", "bayes_acc_all", "overlap", "fraction"]
metrics = pl.concat([read_table(p).with_columns(pl.col(FLOATS).cast(pl.Float64))
                     for p in sm.input.metrics], how="diagonal_relaxed")
runs = metrics.sort("task", "encoder", "overlap", "fraction", "n_modalities", "subset", "seed")
atomic_write(sm.output.runs, lambda p: runs.write_csv(p, float_precision=6))
tables = theory_tables(metrics, dict(sm.params.k))
tables_dir = Path(sm.output.runs).parent
for name, (frame, head) in tables.items():
    atomic_write(tables_dir / f"{name}.csv", lambda p, f=frame: f.write_csv(p, float_precision=6))
    write_text(tables_dir / f"{name}.md", f"# {name}\n\n{head}\n\n{frame_markdown(frame)}\n")

