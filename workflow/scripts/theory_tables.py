"""Theory-study tables and results/README.md (rule theory_tables)."""

from pathlib import Path

import polars as pl

import mmtheory  # noqa: F401  (stops if `dgl` is the Deep Graph Library)
from dgl.logs import configure
from dgl.tables import read_table
from dgl.theory_tables import frame_markdown, theory_tables

sm = snakemake  # noqa: F821  (injected by Snakemake)
configure(sm.log[0])
FLOATS = ["model_risk", "refit_risk", "bayes_risk_subset", "bayes_risk_all", "eta", "model_acc",
          "refit_acc", "bayes_acc_subset", "bayes_acc_all", "overlap", "fraction"]
metrics = pl.concat([read_table(p).with_columns(pl.col(FLOATS).cast(pl.Float64))
                     for p in sm.input.metrics], how="vertical_relaxed")
metrics.sort("task", "encoder", "overlap", "fraction", "n_modalities", "subset", "seed").write_csv(
    sm.output.runs, float_precision=6)
tables = theory_tables(metrics, dict(sm.params.k))
tables_dir = Path(sm.output.runs).parent
for name, (frame, head) in tables.items():
    frame.write_csv(tables_dir / f"{name}.csv", float_precision=6)
    (tables_dir / f"{name}.md").write_text(
        f"# {name}\n\n{head}\n\n{frame_markdown(frame)}\n")

